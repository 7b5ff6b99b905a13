"""Reading a settings file with a one-line error; writing one so that a crash or power cut
leaves the old or the new one, never half."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Replace `path` with `data` (permissions `mode` from the start), fsynced. Blocking."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), mode)
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_file(path: Path, what: str, error: type[Exception]) -> bytes:
    """The bytes of `path`; unreadable: `error` naming the setting `what`, the path and why."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise error(f"{what} {path}: cannot read: {exc.strerror}") from exc


def private_dir(path: Path) -> Path:
    """`path` as a directory only its owner can enter (0700), made (with any missing
    parents) if need be: per-device data and keys live in such."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_uid == os.getuid():
        path.chmod(0o700)
    return path


def private_file(path: Path) -> Path:
    """`path` created empty if missing, and readable by its owner only (0600)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    if path.stat().st_uid == os.getuid():
        path.chmod(0o600)
    return path
