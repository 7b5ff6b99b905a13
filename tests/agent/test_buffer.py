"""DiskBuffer: group commits, byte bound, acks, quarantine of a corrupt file, kill -9."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from roadside.agent.buffer import ROW_OVERHEAD_BYTES, DiskBuffer, DiskBufferError

REPO = Path(__file__).resolve().parents[2]


def items(start: int, n: int, size: int = 40) -> list[tuple[int, bytes]]:
    return [(i, i.to_bytes(8, "big") + b"p" * (size - 8)) for i in range(start, start + n)]


def seqs(buf: DiskBuffer) -> list[int]:
    return [r.t_ns for r in buf.next_batch(10**6, 10**12)]


def test_append_read_ack_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "buffer.db"
    with DiskBuffer(path, 10**9) as buf:
        buf.append(items(0, 250))
        batch = buf.next_batch(100, 10**9)
        assert [r.t_ns for r in batch] == list(range(100))
        assert [r.payload for r in batch] == [p for _, p in items(0, 100)]
        assert [r.id for r in batch] == sorted(r.id for r in batch)
        assert buf.ack([r.id for r in batch]) == 100
        assert buf.ack([r.id for r in batch]) == 0  # acking twice is harmless
        assert buf.depth() == 150 and buf.oldest_unsent_ns() == 100
    with DiskBuffer(path, 10**9) as again:  # unacknowledged rows survive a restart
        assert seqs(again) == list(range(100, 250))
        stats = again.stats()
        assert (stats.appended, stats.acked, stats.depth) == (250, 100, 150)
        assert stats.bytes == 150 * (40 + ROW_OVERHEAD_BYTES)


def test_batch_bounded_by_bytes_but_never_empty(tmp_path: Path) -> None:
    with DiskBuffer(tmp_path / "b.db", 10**9) as buf:
        buf.append(items(0, 10, size=1000))
        assert len(buf.next_batch(100, 3500)) == 3
        assert len(buf.next_batch(100, 10)) == 1  # one oversized row still goes


@pytest.mark.parametrize("at", [0, 50, 150])  # rows go 100 to a statement: in one, after
def test_group_commit_is_all_or_nothing(tmp_path: Path, at: int) -> None:
    with DiskBuffer(tmp_path / "b.db", 10**9) as buf:
        buf.append(items(0, 5))
        bad = [*items(5, at), (2**70, b"x"), *items(5 + at, 150 - at)]  # 2**70: too big
        with pytest.raises(DiskBufferError):
            buf.append(bad)  # so the whole group is rolled back
        assert seqs(buf) == list(range(5))
        assert buf.depth() == 5


def test_full_buffer_drops_oldest_and_counts(tmp_path: Path) -> None:
    row = 40 + ROW_OVERHEAD_BYTES
    path = tmp_path / "b.db"
    with DiskBuffer(path, max_bytes=100 * row) as buf:
        assert buf.append(items(0, 80)) == 0
        assert buf.append(items(80, 50)) == 30
        assert seqs(buf) == list(range(30, 130))
        assert buf.stats().bytes <= 100 * row
    with DiskBuffer(path, max_bytes=100 * row) as again:  # the counter is persisted
        assert again.stats().dropped == 30


def test_corrupt_database_is_quarantined(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "buffer.db"
    path.write_bytes(b"this is not an sqlite database, it is an SD card accident" * 100)
    with DiskBuffer(path, 10**9) as buf:
        assert buf.depth() == 0
        buf.append(items(0, 3))
        assert buf.stats().quarantined == 1
    aside = [p.name for p in tmp_path.iterdir() if ".corrupt-" in p.name]
    assert len(aside) == 1 and aside[0].startswith("buffer.db.corrupt-")
    assert "corrupt" in caplog.text and "moved aside" in caplog.text


def test_truncated_database_is_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "buffer.db"
    with DiskBuffer(path, 10**9) as buf:
        buf.append(items(0, 2000, size=200))
    data = path.read_bytes()
    path.write_bytes(data[:4096] + b"\xff" * 8192 + data[4096 + 8192:])  # smash pages
    with DiskBuffer(path, 10**9) as buf:
        buf.append(items(0, 1))
        assert buf.depth() == 1 and buf.stats().quarantined == 1


WRITER = """
import sys
from roadside.agent.buffer import DiskBuffer
buf = DiskBuffer(sys.argv[1], 10**9).open()
n = buf.depth()  # rows are numbered on from what survived the last kill
while True:
    buf.append([(i, i.to_bytes(8, "big") * 8) for i in range(n, n + 100)])
    n += 100
    print(n, flush=True)
"""


def test_committed_rows_survive_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "buffer.db"
    survived = 0
    for _ in range(3):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)], cwd=REPO, stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        committed = 0
        for line in proc.stdout:  # wait for some commits, then kill mid-stream
            committed = int(line)
            if committed >= survived + 2000:
                break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        with DiskBuffer(path, 10**9) as buf:
            got = seqs(buf)
        # every commit it reported is there, in order; nothing half-written
        assert len(got) >= committed and len(got) % 100 == 0
        assert got == list(range(len(got)))
        survived = len(got)
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert not any(".corrupt-" in p.name for p in tmp_path.iterdir())


def test_corruption_found_while_running_is_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "buffer.db"
    with DiskBuffer(path, 10**9) as buf:
        buf.append(items(0, 20_000, size=200))  # 4 MB: more than SQLite's page cache
        other = sqlite3.connect(path)
        other.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # rows now in the main file
        other.close()
        size = path.stat().st_size
        with path.open("r+b") as f:  # the SD card loses the file's pages under us
            f.seek(8192)
            f.write(b"\xa5" * (size - 8192))
        assert buf.next_batch(100_000, 10**12) == []  # noticed, moved aside, fresh db
        assert buf.stats().quarantined == 1 and buf.depth() == 0
        buf.append(items(7, 3))  # and the agent carries on
        assert seqs(buf) == [7, 8, 9]
    assert sum(".corrupt-" in p.name for p in tmp_path.iterdir()) >= 1
