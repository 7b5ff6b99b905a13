"""Fixtures every test package shares. Shared fixtures of one area live in
tests/fixtures/<area>.py and are listed in pytest_plugins below."""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings

# Hermetic: the suite never sees the user's home (a laptop central's data and certificates
# live there) nor their ROADSIDE_* settings. Set before any roadside module is imported, as
# some take defaults from the environment at import; subprocesses inherit it.
for _name in [n for n in os.environ if n.startswith("ROADSIDE_")]:
    del os.environ[_name]
_HOME = tempfile.mkdtemp(prefix="roadside-test-home-")
atexit.register(shutil.rmtree, _HOME, True)
os.environ.update(HOME=_HOME, XDG_DATA_HOME=f"{_HOME}/.local/share",
                  XDG_CONFIG_HOME=f"{_HOME}/.config", XDG_CACHE_HOME=f"{_HOME}/.cache")

pytest_plugins = [
    "tests.fixtures.etcd",
    "tests.fixtures.etcd_cluster",
    "tests.fixtures.captures",
    "tests.fixtures.trust",  # before the fixtures that import it
    "tests.fixtures.central",
    "tests.fixtures.tls",
    "tests.fixtures.query",
    "tests.fixtures.ops",
    "tests.fixtures.traveltime",
    "tests.fixtures.agent",
    "tests.fixtures.sim",
    "tests.fixtures.serial_board",
    "tests.fixtures.bluez",
]

# property tests: bounded in `make test`, long runs with `make fuzz` (HYPOTHESIS_PROFILE=fuzz)
settings.register_profile("test", max_examples=200, deadline=None, database=None)
settings.register_profile("fuzz", max_examples=20_000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "test"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--installed", action="store_true",
                     help="the run is against an installed wheel (make test-wheel): fail "
                          "unless roadside is imported from site-packages")


def pytest_sessionstart(session: pytest.Session) -> None:
    if session.config.getoption("--installed"):
        import roadside.common

        where = Path(roadside.common.__file__).resolve()
        if "site-packages" not in where.parts:
            raise pytest.UsageError(f"--installed, but roadside comes from {where}")


def _ours_still_running() -> list[tuple[int, str]]:
    """Processes this run started (they carry its HOME) that still run."""
    marker = f"HOME={_HOME}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        found.append((int(entry.name), cmdline.strip()))
    return found


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The suite leaves no process behind: a leftover fails the run (and is ended)."""
    left = _ours_still_running()
    for pid, cmdline in left:
        print(f"\nleft running by the tests: {pid} {cmdline[:200]}")
        try:
            os.kill(pid, 9)
        except OSError:
            pass
    if left and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
