"""A damaged buffer gives back every row that can still be read; damage SQLite itself would
pass over silently (an empty file, overwritten WAL frames) is found at open."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from roadside.agent.buffer import DiskBuffer

REPO = Path(__file__).resolve().parents[2]
ROWS = 20_540
PAGE = 4096


def payload(i: int) -> bytes:
    return i.to_bytes(8, "big") * 20  # 160 bytes that name their row


def fill(path: Path, n: int = ROWS) -> None:
    with DiskBuffer(path, 10**9) as buf:
        for start in range(0, n, 1000):
            buf.append([(i, payload(i)) for i in range(start, min(n, start + 1000))])


def rows(buf: DiskBuffer) -> list[tuple[int, bytes]]:
    return [(r.t_ns, r.payload) for r in buf.next_batch(10**7, 10**12)]


def test_damaged_pages_lose_only_their_rows(tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "buffer.db"
    fill(path)
    data = bytearray(path.read_bytes())
    pages = len(data) // PAGE
    rng = random.Random(8)
    for page in rng.sample(range(5, pages), 8):  # 8 random pages; the schema pages live
        data[page * PAGE:(page + 1) * PAGE] = rng.randbytes(PAGE)
    path.write_bytes(bytes(data))
    with DiskBuffer(path, 10**9) as buf:
        got = rows(buf)
        stats = buf.stats()
    assert stats.quarantined == 1 and stats.salvaged == len(got)
    assert len(got) >= ROWS - 8 * (PAGE // 160 + 1)  # at most the damaged pages' rows lost
    assert all(p == payload(t) for t, p in got)  # every salvaged row is intact
    assert [t for t, _ in got] == sorted(t for t, _ in got)  # in their order
    assert "salvaged" in caplog.text


def test_a_zero_length_buffer_file_is_reported(tmp_path: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "buffer.db"
    fill(path, 100)
    path.write_bytes(b"")  # what a card that lost the file's blocks leaves
    with DiskBuffer(path, 10**9) as buf:
        assert buf.stats().quarantined == 1
    assert "empty (0 bytes)" in caplog.text


KILLED_WRITER = """
import os, sys
from roadside.agent.buffer import DiskBuffer
buf = DiskBuffer(sys.argv[1], 10**9).open()
buf._conn().execute("PRAGMA wal_autocheckpoint=0")  # everything stays in the WAL
for start in range(0, 2000, 100):
    buf.append([(i, i.to_bytes(8, "big") * 20) for i in range(start, start + 100)])
os.kill(os.getpid(), 9)
"""


def test_overwritten_wal_frames_after_a_kill_are_found(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "buffer.db"
    subprocess.run([sys.executable, "-c", KILLED_WRITER, str(path)], cwd=REPO, check=False)
    wal = Path(f"{path}-wal")
    data = bytearray(wal.read_bytes())
    frame = 24 + PAGE
    at = 32 + 20 * frame  # frame 21 of many: garbage in the middle of the log
    data[at:at + 200] = random.Random(1).randbytes(200)
    wal.write_bytes(bytes(data))
    with DiskBuffer(path, 10**9) as buf:
        got = rows(buf)
        assert buf.stats().quarantined == 1
    assert "WAL frame 21 is overwritten" in caplog.text
    assert all(p == payload(t) for t, p in got)  # what came before the damage is kept
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_wal_left_by_a_clean_kill_is_not_damage(tmp_path: Path) -> None:
    path = tmp_path / "buffer.db"
    subprocess.run([sys.executable, "-c", KILLED_WRITER, str(path)], cwd=REPO, check=False)
    with DiskBuffer(path, 10**9) as buf:
        assert [t for t, _ in rows(buf)] == list(range(2000))
        assert buf.stats().quarantined == 0


def test_an_undecodable_row_is_set_aside_and_counted(tmp_path: Path) -> None:
    with DiskBuffer(tmp_path / "b.db", 10**9) as buf:
        buf.append([(i, payload(i)) for i in range(10)])
        bad = buf.next_batch(10, 10**9)[3].id
        assert buf.set_aside([bad], "not a Pass") == 1
        assert [t for t, _ in rows(buf)] == [0, 1, 2, 4, 5, 6, 7, 8, 9]
        assert buf.stats().set_aside == 1 and buf.depth() == 9


def test_a_wal_overwritten_from_its_first_frame_is_found_by_its_index(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Every frame overwritten (a card that lost the WAL's blocks): SQLite would take the
    WAL as stale and drop 2,000 rows silently; the wal-index (-shm) still records them."""
    path = tmp_path / "buffer.db"
    subprocess.run([sys.executable, "-c", KILLED_WRITER, str(path)], cwd=REPO, check=False)
    wal = Path(f"{path}-wal")
    data = bytearray(wal.read_bytes())
    data[32:] = random.Random(2).randbytes(len(data) - 32)  # the header survives
    wal.write_bytes(bytes(data))
    with DiskBuffer(path, 10**9) as buf:
        assert buf.stats().quarantined == 1  # moved aside, logged and counted
    assert "WAL frame 1 is overwritten: the wal-index records" in caplog.text
