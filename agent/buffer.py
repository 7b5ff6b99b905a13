"""The durable on-disk buffer of passes waiting for central's acknowledgement.

SQLite in WAL mode with synchronous=FULL: a committed row survives kill -9 and power
loss. Many passes go in one transaction (group commit), 100 rows to an INSERT. The buffer
is bounded in bytes (payload plus a fixed per-row overhead); when full, the oldest rows
are dropped and counted. Rows are deleted only by `ack`; a row the uplink cannot decode
is `set_aside` (kept in a bounded table, counted) so it never blocks the rows behind it.

A buffer made `once=True` (a replay's) takes each payload once, ever: a digest of every
row it took stays in the `taken` table, so a replay restarted on the same state directory
does not buffer, and send again, the passes central already acknowledged (counted in
`repeated`, for this run). The table grows with the replay: one 16-byte digest per pass.

Damage: a database SQLite cannot read (found at open or while running), a zero-length
file, or a WAL whose frames were overwritten after a kill is renamed aside
(`<name>.corrupt-<UTC time>`, with its -wal/-shm), logged and counted; every row that can
still be read from it is salvaged, row by row, into a fresh database.

Every method blocks: call it off the event loop (asyncio.to_thread). One lock guards the
connection, so several threads may share a buffer.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import NoReturn

from roadside.agent import walcheck
from roadside.agent.errors import AgentError
from roadside.common.files import private_dir

log = logging.getLogger(__name__)

ROW_OVERHEAD_BYTES = 64  # what a row costs beyond its payload, for the byte bound
BUSY_TIMEOUT_S = 10.0
QUARANTINE_SUFFIX = ".corrupt-"
SET_ASIDE_MAX_ROWS = 10_000  # undecodable rows kept for inspection; older ones deleted
SALVAGE_SCAN_ROWS = 1000  # rows per read while salvaging; one at a time past damage
SALVAGE_PROBE_IDS = 100_000  # ids probed past the last readable row when the end is unknown

_SCHEMA = """
CREATE TABLE IF NOT EXISTS passes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    t_ns INTEGER NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS set_aside (
    id INTEGER PRIMARY KEY,
    t_ns INTEGER NOT NULL,
    payload BLOB NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS taken (digest BLOB PRIMARY KEY) WITHOUT ROWID;
"""
DIGEST_BYTES = 16
ROWS_PER_INSERT = 100  # rows in one INSERT (multi-row VALUES: half the time of one at a time)
_INSERT = "INSERT INTO passes (t_ns, payload) VALUES (?, ?)"
_INSERT_MANY = _INSERT + ", (?, ?)" * (ROWS_PER_INSERT - 1)


class DiskBufferError(AgentError):
    """The buffer cannot be opened or written (disk full, permissions)."""


class _Recovered(Exception):
    """The database was found corrupt, moved aside and replaced by a fresh one."""


@dataclass(frozen=True, slots=True)
class Row:
    id: int
    t_ns: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class BufferStats:
    depth: int
    bytes: int
    oldest_unsent_ns: int | None
    appended: int
    acked: int
    dropped: int
    quarantined: int
    set_aside: int = 0
    salvaged: int = 0


class DiskBuffer:
    def __init__(self, path: str | Path, max_bytes: int, once: bool = False) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.once = once
        self.repeated = 0  # payloads skipped by this `once` buffer since it was made
        self._lock = threading.Lock()
        self._closed = True  # until open(); close() again
        self._db: sqlite3.Connection | None = None
        self._depth = 0
        self._bytes = 0

    # --- lifecycle ---------------------------------------------------------------

    def open(self) -> DiskBuffer:
        """Open (creating, or quarantining and salvaging, as needed). Safe to call twice.
        DiskBufferError when it cannot (a full disk): every later use tries again."""
        with self._lock:
            self._closed = False
            self._open()
        return self

    def _open(self) -> None:
        """(lock held) open() itself."""
        if self._db is not None:
            return
        damage = self._damage_before_open()
        if damage is not None:
            self._salvage_into_fresh(damage)
            return
        try:
            self._db = self._connect()
        except OSError as exc:  # the directory or file cannot be made (a full disk)
            raise DiskBufferError(f"buffer {self.path}: cannot open: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and not self._corrupt(exc):
                raise DiskBufferError(f"buffer {self.path}: cannot open: {exc}") from exc
            self._salvage_into_fresh(str(exc))

    def _damage_before_open(self) -> str | None:
        """What SQLite would not notice: a zero-length file, overwritten WAL frames."""
        try:
            if self.path.exists() and self.path.stat().st_size == 0:
                return "the file is empty (0 bytes)"
            return walcheck.damage(Path(str(self.path) + "-wal"))
        except OSError as exc:
            raise DiskBufferError(f"buffer {self.path}: cannot open: {exc}") from exc

    def close(self) -> None:
        """Close the database. Safe to call twice."""
        with self._lock:
            self._closed = True
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> DiskBuffer:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connect(self) -> sqlite3.Connection:
        private_dir(self.path.parent)  # device ids: 0700 and 0600, whoever runs the agent
        db = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            for suffix in ("", "-wal", "-shm"):  # made now if they were not there
                path = self.path.with_name(self.path.name + suffix)
                if path.exists():
                    path.chmod(0o600)
            check = db.execute("PRAGMA quick_check").fetchone()
            if check is None or check[0] != "ok":
                raise sqlite3.DatabaseError(f"quick_check: {check[0] if check else 'no answer'}")
            db.executescript(_SCHEMA)
            self._depth, self._bytes = self._measure(db)
        except BaseException:
            db.close()
            raise
        return db

    @staticmethod
    def _corrupt(exc: sqlite3.DatabaseError) -> bool:
        text = str(exc).lower()
        return "malformed" in text or "not a database" in text or "corrupt" in text

    def _salvage_into_fresh(self, why: str) -> None:
        """(lock held, no connection) Move the damaged files aside, start a fresh database
        and copy into it every row that can still be read from them."""
        aside = self._quarantine(why)
        self._db = self._connect()
        salvaged = _salvage(aside, self._db)
        self._bump(self._db, "salvaged", salvaged)
        self._depth, self._bytes = self._measure(self._db)
        log.error("buffer %s: salvaged %d passes from the damaged file into a fresh one",
                  self.path, salvaged)

    @staticmethod
    def _measure(db: sqlite3.Connection) -> tuple[int, int]:
        count, total = db.execute(
            "SELECT count(*), coalesce(sum(length(payload)), 0) FROM passes"
        ).fetchone()
        return int(count), int(total) + int(count) * ROW_OVERHEAD_BYTES

    def _quarantine(self, why: object) -> Path:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        target = self.path.with_name(f"{self.path.name}{QUARANTINE_SUFFIX}{stamp}")
        n = 1
        while target.exists():
            n += 1
            target = self.path.with_name(f"{self.path.name}{QUARANTINE_SUFFIX}{stamp}.{n}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(self.path) + suffix)
            if src.exists():
                src.rename(str(target) + suffix)
        log.error("buffer %s is corrupt (%s): moved aside to %s, starting a fresh one",
                  self.path, why, target)
        return target

    def _conn(self) -> sqlite3.Connection:
        """(lock held) The connection, opened now if it could not be before (a full disk
        at start: the agent runs degraded until there is room)."""
        if self._closed:
            raise DiskBufferError(f"buffer {self.path} is closed")
        self._open()
        assert self._db is not None
        return self._db

    # --- writing -----------------------------------------------------------------

    def append(self, items: Sequence[tuple[int, bytes]]) -> int:
        """Store (t_ns, payload) items in one transaction; return how many old rows were
        dropped to stay under max_bytes. A `once` buffer skips payloads it took before."""
        if not items:
            return 0
        with self._lock:
            try:
                dropped = self._append(items)
            except _Recovered:
                dropped = self._append(items)  # into the fresh database
        if dropped:
            log.warning("buffer full (%d bytes): dropped the %d oldest passes",
                        self.max_bytes, dropped)
        return dropped

    def _append(self, items: Sequence[tuple[int, bytes]]) -> int:
        db = self._conn()
        try:
            db.execute("BEGIN IMMEDIATE")
            offered = len(items)
            if self.once:
                items = self._new_only(db, items)
            added = sum(len(p) for _, p in items) + len(items) * ROW_OVERHEAD_BYTES
            _append_rows(db, items)
            self._bump(db, "appended", len(items))
            dropped, freed = self._drop_oldest(db, self._bytes + added - self.max_bytes)
            db.execute("COMMIT")
        except (sqlite3.Error, OverflowError, ValueError, TypeError) as exc:
            _rollback(db)
            self._failed(exc, "write")
        except BaseException:
            _rollback(db)
            raise
        self._depth += len(items) - dropped
        self.repeated += offered - len(items)
        self._bytes += added - freed
        return dropped

    def _new_only(self, db: sqlite3.Connection,
                  items: Sequence[tuple[int, bytes]]) -> Sequence[tuple[int, bytes]]:
        """(in a transaction) The items whose payload was never taken; records them."""
        new = []
        for item in items:
            digest = hashlib.blake2b(item[1], digest_size=DIGEST_BYTES).digest()
            if db.execute("INSERT OR IGNORE INTO taken (digest) VALUES (?)",
                          (digest,)).rowcount:
                new.append(item)
        return new

    def _failed(self, exc: Exception, what: str) -> NoReturn:
        """Corruption: quarantine and start afresh (raises _Recovered); else DiskBufferError."""
        if isinstance(exc, sqlite3.DatabaseError) and self._corrupt(exc):
            self._recover(exc)
            raise _Recovered from exc
        raise DiskBufferError(f"buffer {self.path}: cannot {what}: {exc}") from exc

    def _recover(self, exc: sqlite3.DatabaseError) -> None:
        """(lock held) SQLite found the file corrupt while running: move it aside, salvage."""
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        self._salvage_into_fresh(str(exc))

    def _drop_oldest(self, db: sqlite3.Connection, excess: int) -> tuple[int, int]:
        """Delete the oldest rows until `excess` bytes are freed; return (rows, bytes)."""
        if excess <= 0:
            return 0, 0
        rows, freed, last_id = 0, 0, None
        cur = db.execute("SELECT id, length(payload) FROM passes ORDER BY id")
        for row_id, size in cur:
            rows += 1
            freed += size + ROW_OVERHEAD_BYTES
            last_id = row_id
            if freed >= excess:
                break
        cur.close()
        if last_id is not None:
            db.execute("DELETE FROM passes WHERE id <= ?", (last_id,))
            self._bump(db, "dropped", rows)
        return rows, freed

    @staticmethod
    def _bump(db: sqlite3.Connection, name: str, n: int) -> None:
        db.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
            (name, n),
        )

    # --- reading and acknowledging ---------------------------------------------------

    def next_batch(self, max_rows: int, max_bytes: int, after_id: int = 0) -> list[Row]:
        """The oldest unacknowledged rows (id > after_id), bounded in count and payload
        bytes; always at least one row when any such row is waiting."""
        with self._lock:
            out: list[Row] = []
            size = 0
            try:
                cur = self._conn().execute(
                    "SELECT id, t_ns, payload FROM passes WHERE id > ? ORDER BY id LIMIT ?",
                    (after_id, max_rows),
                )
                for row_id, t_ns, payload in cur:
                    if out and size + len(payload) > max_bytes:
                        break
                    out.append(Row(row_id, t_ns, bytes(payload)))
                    size += len(payload)
                cur.close()
            except sqlite3.DatabaseError as exc:
                try:
                    self._failed(exc, "read")
                except _Recovered:
                    return []  # a fresh, empty database
            return out

    def ack(self, ids: Sequence[int]) -> int:
        """Delete acknowledged rows; return how many were still there."""
        if not ids:
            return 0
        with self._lock:
            db = self._conn()
            try:
                db.execute("BEGIN IMMEDIATE")
                freed = self._remove(db, ids, "acked")
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                _rollback(db)
                try:
                    self._failed(exc, "acknowledge")
                except _Recovered:
                    return 0  # the rows went aside with the corrupt file
            except BaseException:
                _rollback(db)
                raise
            return self._forget(freed)

    def _remove(self, db: sqlite3.Connection, ids: Sequence[int], counter: str,
                ) -> tuple[int, int]:
        """(in a transaction) Delete these rows, count them under `counter`; (rows, bytes)."""
        marks = ",".join("?" * len(ids))
        rows, size = db.execute(
            f"SELECT count(*), coalesce(sum(length(payload)), 0) FROM passes "
            f"WHERE id IN ({marks})", tuple(ids),
        ).fetchone()
        db.execute(f"DELETE FROM passes WHERE id IN ({marks})", tuple(ids))
        self._bump(db, counter, rows)
        return int(rows), int(size)

    def _forget(self, freed: tuple[int, int]) -> int:
        """(after the commit) The removed rows out of the depth and byte figures."""
        self._depth -= freed[0]
        self._bytes -= freed[1] + freed[0] * ROW_OVERHEAD_BYTES
        return freed[0]

    def set_aside(self, ids: Sequence[int], reason: str) -> int:
        """Move rows that cannot be used (undecodable) out of the queue, counted; the
        newest SET_ASIDE_MAX_ROWS of them are kept for inspection."""
        if not ids:
            return 0
        with self._lock:
            db = self._conn()
            marks = ",".join("?" * len(ids))
            try:
                db.execute("BEGIN IMMEDIATE")
                db.execute(
                    f"INSERT OR REPLACE INTO set_aside (id, t_ns, payload, reason) "
                    f"SELECT id, t_ns, payload, ? FROM passes WHERE id IN ({marks})",
                    (reason, *ids),
                )
                freed = self._remove(db, ids, "set_aside")
                db.execute(
                    "DELETE FROM set_aside WHERE id NOT IN "
                    "(SELECT id FROM set_aside ORDER BY id DESC LIMIT ?)", (SET_ASIDE_MAX_ROWS,)
                )
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                _rollback(db)
                raise DiskBufferError(f"buffer {self.path}: cannot set rows aside: {exc}") \
                    from exc
            rows = self._forget(freed)
        log.error("buffer: set aside %d undecodable rows (%s)", rows, reason)
        return rows

    # --- figures -----------------------------------------------------------------

    def depth(self) -> int:
        return self._depth

    def oldest_unsent_ns(self) -> int | None:
        """Event time of the oldest waiting row (by arrival order), None when empty."""
        with self._lock:
            try:
                row = self._conn().execute(
                    "SELECT t_ns FROM passes ORDER BY id LIMIT 1"
                ).fetchone()
            except sqlite3.DatabaseError as exc:
                try:
                    self._failed(exc, "read")
                except _Recovered:
                    return None
        return None if row is None else int(row[0])

    def quarantined(self) -> int:
        """Databases moved aside so far (counted from the files next to this one)."""
        pattern = f"{self.path.name}{QUARANTINE_SUFFIX}*"
        return sum(1 for p in self.path.parent.glob(pattern) if not p.name.endswith(("-wal",
                                                                                     "-shm")))

    def _counters(self) -> dict[str, int]:
        with self._lock:
            try:
                rows = self._conn().execute("SELECT name, value FROM counters").fetchall()
            except sqlite3.DatabaseError as exc:
                try:
                    self._failed(exc, "read")
                except _Recovered:
                    rows = []
        return dict(rows)

    def stats(self) -> BufferStats:
        """The buffer's figures; with a buffer that cannot be opened (a full disk at
        start), what is known without it."""
        try:
            counters = self._counters()
            oldest = self.oldest_unsent_ns()
        except DiskBufferError:
            counters, oldest = {}, None
        return BufferStats(
            depth=self._depth,
            bytes=self._bytes,
            oldest_unsent_ns=oldest,
            appended=int(counters.get("appended", 0)),
            acked=int(counters.get("acked", 0)),
            dropped=int(counters.get("dropped", 0)),
            quarantined=self.quarantined(),
            set_aside=int(counters.get("set_aside", 0)),
            salvaged=int(counters.get("salvaged", 0)),
        )


def _salvage(aside: Path, fresh: sqlite3.Connection) -> int:
    """Copy every readable row of the damaged database `aside` into `fresh`; return how
    many. Reads ranges while they work and single rows past damaged pages."""
    try:
        src = sqlite3.connect(aside, timeout=BUSY_TIMEOUT_S)
    except sqlite3.Error:
        return 0
    copied = 0
    try:
        try:
            src.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error:
            return 0  # no readable schema: no table can be found in it
        end = _last_id(src)
        last = 0
        while True:
            rows: list[tuple[int, int, bytes]] = []
            broken = False
            try:
                for i, t_ns, payload in src.execute(
                    "SELECT id, t_ns, payload FROM passes WHERE id > ? ORDER BY id LIMIT ?",
                    (last, SALVAGE_SCAN_ROWS),
                ):
                    rows.append((int(i), int(t_ns), bytes(payload)))
            except (sqlite3.Error, ValueError, TypeError):
                broken = True
            if rows:
                copied += _insert(fresh, rows)
                last = rows[-1][0]
                continue
            if not broken:
                break
            found = _probe(src, last, max(end, last) if end else last + SALVAGE_PROBE_IDS)
            if found is None:
                break
            copied += _insert(fresh, [found])
            last = found[0]
    finally:
        src.close()
    return copied


def _last_id(src: sqlite3.Connection) -> int:
    for sql in ("SELECT seq FROM sqlite_sequence WHERE name = 'passes'",
                "SELECT max(id) FROM passes"):
        try:
            row = src.execute(sql).fetchone()
        except sqlite3.Error:
            continue
        if row is not None and row[0] is not None:
            return int(row[0])
    return 0


def _probe(src: sqlite3.Connection, after: int, end: int) -> tuple[int, int, bytes] | None:
    """The first row with an id in (after, end] that can be read on its own."""
    for row_id in range(after + 1, end + 1):
        try:
            row = src.execute("SELECT t_ns, payload FROM passes WHERE id = ?",
                              (row_id,)).fetchone()
        except (sqlite3.Error, ValueError, TypeError):
            continue
        if row is not None:
            return row_id, int(row[0]), bytes(row[1])
    return None


def _insert(db: sqlite3.Connection, rows: Sequence[tuple[int, int, bytes]]) -> int:
    db.execute("BEGIN IMMEDIATE")
    db.executemany("INSERT OR IGNORE INTO passes (id, t_ns, payload) VALUES (?, ?, ?)", rows)
    db.execute("COMMIT")
    return len(rows)


def _append_rows(db: sqlite3.Connection, items: Sequence[tuple[int, bytes]]) -> None:
    """(in a transaction) Insert the rows in order, ROWS_PER_INSERT to a statement."""
    whole = len(items) - len(items) % ROWS_PER_INSERT
    if whole:
        flat = list(chain.from_iterable(items[:whole]))
        step = 2 * ROWS_PER_INSERT
        db.executemany(_INSERT_MANY, [flat[i:i + step] for i in range(0, len(flat), step)])
    if whole < len(items):
        db.executemany(_INSERT, items[whole:])


def _rollback(db: sqlite3.Connection) -> None:
    if db.in_transaction:
        db.execute("ROLLBACK")
