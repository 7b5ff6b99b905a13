"""The agent's health figures: a snapshot value, the status file, clock sync, disk free.

The runner writes `status.json` in the state directory every few seconds (atomically);
`roadside agent status` reads it, and the same snapshot goes to central (ReportStatus).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import enum
import json
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from roadside.agent.errors import AgentError
from roadside.agent.tasks import TaskState
from roadside.common.files import write_atomic

STATUS_FILE = "status.json"
TIMEDATECTL_TIMEOUT_S = 3.0
_TIME_ERROR = 5  # adjtimex return value: clock not synchronised


class StatusError(AgentError):
    """The status file is missing or unreadable."""


class ClockSync(enum.Enum):
    UNKNOWN = "unknown"
    SYNCED = "synced"
    UNSYNCED = "unsynced"


@dataclass(frozen=True, slots=True)
class SourceState:
    name: str
    state: str  # running, restarting, failed, disabled, finished
    sightings_per_minute: float = 0.0  # last minute (of capture time for a replay)
    restarts: int = 0
    last_error: str = ""


@dataclass(frozen=True, slots=True)
class AgentStatus:
    detector_id: str
    reported_ns: int
    buffer_depth: int
    buffer_bytes: int
    oldest_unsent_age_s: float
    last_upload_ns: int
    sources: tuple[SourceState, ...] = ()
    clock_sync: ClockSync = ClockSync.UNKNOWN
    disk_free_bytes: int = 0
    dropped_passes: int = 0
    agent_version: str = ""
    passes_total: int = 0
    quarantined_databases: int = 0
    sightings_total: int = 0
    upload_failures: int = 0
    endpoint: str = ""  # the central endpoint in use
    tasks: tuple[TaskState, ...] = ()
    lost_passes: int = 0  # dropped from RAM while the buffer could not be written
    set_aside_rows: int = 0  # buffer rows that could not be read or decoded
    over_budget_sightings: int = 0  # randomized-address sightings refused a new pass
    erased_epoch_sightings: int = 0  # heard in an epoch whose key the box has erased
    salvaged_rows: int = 0  # rows recovered from damaged buffer files

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["clock_sync"] = self.clock_sync.value
        data["sources"] = [asdict(s) for s in self.sources]
        data["tasks"] = [asdict(s) for s in self.tasks]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AgentStatus:
        data = dict(data)
        data["clock_sync"] = ClockSync(data.get("clock_sync", "unknown"))
        data["sources"] = tuple(SourceState(**s) for s in data.get("sources", ()))
        data["tasks"] = tuple(TaskState(**s) for s in data.get("tasks", ()))
        return cls(**data)


def clock_sync() -> ClockSync:
    """Ask the kernel (adjtimex), falling back to timedatectl."""
    libc_name = ctypes.util.find_library("c")
    if libc_name:
        try:
            libc = ctypes.CDLL(libc_name, use_errno=True)
            buf = ctypes.create_string_buffer(512)  # zeroed: modes = 0 means read-only
            state = libc.adjtimex(buf)
            if state >= 0:
                return ClockSync.UNSYNCED if state == _TIME_ERROR else ClockSync.SYNCED
        except (OSError, AttributeError):
            pass
    return _timedatectl()


def _timedatectl() -> ClockSync:
    exe = shutil.which("timedatectl")
    if exe is None:
        return ClockSync.UNKNOWN
    try:
        out = subprocess.run(
            [exe, "show", "-p", "NTPSynchronized", "--value"],
            capture_output=True, text=True, timeout=TIMEDATECTL_TIMEOUT_S, check=False,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ClockSync.UNKNOWN
    return {"yes": ClockSync.SYNCED, "no": ClockSync.UNSYNCED}.get(out, ClockSync.UNKNOWN)


def disk_free(path: Path) -> int:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return 0


def write_status(state_dir: Path, status: AgentStatus) -> None:
    """Atomically replace state_dir/status.json (blocking: call off the event loop)."""
    data = json.dumps(status.to_json(), indent=1).encode()
    write_atomic(state_dir / STATUS_FILE, data, 0o644)


def read_status(state_dir: Path) -> AgentStatus:
    path = state_dir / STATUS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return AgentStatus.from_json(data)
    except FileNotFoundError:
        raise StatusError(f"{path} not found: is `roadside agent run` running?") from None
    except OSError as exc:
        raise StatusError(f"{path}: cannot read: {exc.strerror}") from exc
    except (ValueError, TypeError, KeyError) as exc:
        raise StatusError(f"{path}: not a status file ({exc})") from exc
