"""Finds overwritten frames in an SQLite WAL file, which SQLite itself passes over silently.

SQLite replays a WAL up to the first frame whose salts or checksum do not match and ignores
the rest, so frames overwritten after a kill lose every transaction behind them without a
word. Here: a WAL whose header is damaged, or in which a frame carrying this WAL's salts
follows the first frame SQLite would stop at, is damaged; so is one holding fewer valid
frames than its wal-index (the -shm file, left by a kill) records as committed under the
same salts: a WAL overwritten from its first frame on looks like a stale one otherwise.
Stale frames of an earlier cycle (other salts) after the valid ones, and a torn last frame,
are normal.
Format: https://www.sqlite.org/fileformat2.html#walformat
"""

from __future__ import annotations

import struct
from pathlib import Path

HEADER_BYTES = 32
FRAME_HEADER_BYTES = 24
MAGIC_LE, MAGIC_BE = 0x377F0682, 0x377F0683


def _checksum(data: bytes, big_endian: bool, s0: int, s1: int) -> tuple[int, int]:
    words = struct.unpack((">" if big_endian else "<") + f"{len(data) // 4}I", data)
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & 0xFFFFFFFF
        s1 = (s1 + words[i + 1] + s0) & 0xFFFFFFFF
    return s0, s1


def damage(path: Path) -> str | None:
    """Why the WAL at `path` is damaged, or None (also when there is no WAL). Blocking."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    if len(data) < HEADER_BYTES:
        return None  # nothing was ever committed through it
    magic, _version, page_size, _seq, salt1, salt2, c0, c1 = struct.unpack(
        ">8I", data[:HEADER_BYTES]
    )
    if not any(data[:HEADER_BYTES]):
        return None  # a zeroed header: an empty WAL
    if magic not in (MAGIC_LE, MAGIC_BE) or page_size < 512 or page_size & (page_size - 1):
        return "its WAL header is overwritten"
    big = magic == MAGIC_BE
    s0, s1 = _checksum(data[:24], big, 0, 0)
    if (s0, s1) != (c0, c1):
        return "its WAL header checksum does not match"
    frame_bytes = FRAME_HEADER_BYTES + page_size
    stopped_at: int | None = None
    for n, off in enumerate(range(HEADER_BYTES, len(data) - frame_bytes + 1, frame_bytes)):
        head = data[off:off + FRAME_HEADER_BYTES]
        f_salt1, f_salt2, f_c0, f_c1 = struct.unpack(">4I", head[8:24])
        ours = (f_salt1, f_salt2) == (salt1, salt2)
        if stopped_at is None:
            if ours:
                s0, s1 = _checksum(head[:8], big, s0, s1)
                s0, s1 = _checksum(data[off + FRAME_HEADER_BYTES:off + frame_bytes], big, s0, s1)
                if (s0, s1) == (f_c0, f_c1):
                    continue
            stopped_at = n
        elif ours:
            return (f"its WAL frame {stopped_at + 1} is overwritten: "
                    f"frames {stopped_at + 1}-{n + 1} and later are lost")
    valid = stopped_at if stopped_at is not None else \
        (len(data) - HEADER_BYTES) // frame_bytes
    committed = _committed_frames(Path(str(path)[:-len("-wal")] + "-shm"), data[16:24])
    if committed > valid:
        return (f"its WAL frame {valid + 1} is overwritten: the wal-index records "
                f"{committed} committed frames, {valid} are readable")
    return None


SHM_HEADER_BYTES = 48  # one copy of the wal-index header (two follow each other)


def _committed_frames(shm: Path, salts: bytes) -> int:
    """Frames the wal-index says were committed to the WAL of these salts (the 8 bytes of
    its header, which the index copies as they are); 0 when it says nothing of them (no
    -shm, another WAL's, not initialised, its two copies differ). The index is in the
    writer's byte order: this machine's."""
    try:
        with open(shm, "rb") as f:
            head = f.read(2 * SHM_HEADER_BYTES)
    except OSError:
        return 0
    if len(head) < 2 * SHM_HEADER_BYTES or head[:SHM_HEADER_BYTES] != head[SHM_HEADER_BYTES:]:
        return 0
    is_init, mx_frame = head[12], struct.unpack("=I", head[16:20])[0]
    return int(mx_frame) if is_init == 1 and head[32:40] == salts else 0
