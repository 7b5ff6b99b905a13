"""Another local user reaches nothing of central's etcd: neither the embedded one of a laptop
central nor Debian's etcd with roadside's drop-in, on its client port or its peer port.

The probe runs as `nobody` (so these tests need root to switch to it) with Debian's python3
and only the standard library: what any local account could do.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from roadside.central.pki.ca import SiteCA
from roadside.central.pki.etcd import etcd_files
from roadside.central.store.etcd_process import EtcdProcess, free_port
from tests.fixtures.polling import wait_until
from tests.fixtures.serve import kill, start_serve, wait_serving

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                                reason="switching to the user nobody needs root (and setpriv)")

REPO = Path(__file__).resolve().parents[2]
DROPIN = REPO / "systemd" / "etcd-roadside.conf"
PROBE_TIMEOUT_S = 60
# what a local user tries on one port: plain HTTP, then TLS without a client certificate;
# it prints what came back (a member list or keys would be a leak)
PROBE = r"""
import json, socket, ssl, sys
port = int(sys.argv[1])
out = {}
def http(sock):
    sock.sendall(b"GET /members HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data.decode(errors="replace")
        data += chunk
try:
    with socket.create_connection(("127.0.0.1", port), 5) as s:
        out["plain"] = http(s)
except OSError as exc:
    out["plain"] = "refused: %s" % exc
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
try:
    with socket.create_connection(("127.0.0.1", port), 5) as s, ctx.wrap_socket(s) as t:
        out["tls"] = http(t)
except (OSError, ssl.SSLError) as exc:
    out["tls"] = "refused: %s" % exc
print(json.dumps(out))
"""


def probe_as_nobody(port: int) -> dict[str, str]:
    done = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "/usr/bin/python3",
         "-c", PROBE, str(port)], capture_output=True, text=True, timeout=PROBE_TIMEOUT_S,
        cwd="/", env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"})
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def assert_nothing_leaks(found: dict[str, str]) -> None:
    # the port is there (this is not a probe of a closed port) and answers nothing
    assert not found["plain"].startswith("refused"), found
    for how, answer in found.items():
        assert "peerURLs" not in answer and "clientURLs" not in answer, (how, answer)
        assert not re.search(r"HTTP/1\.1 200", answer), (how, answer)


def test_a_local_user_gets_nothing_from_a_laptop_centrals_etcd(tmp_path: Path) -> None:
    peer = free_port()
    log = tmp_path / "serve.log"
    proc = start_serve(log, "--host", "127.0.0.1", "--collector-port", "0", "--query-port",
                       "0", "--health-port", "0", "--embedded-etcd-port", "0",
                       "--embedded-etcd-peer-port", str(peer), "--data-dir",
                       str(tmp_path / "central"))
    try:
        serving = wait_serving(proc, log)
        client = int(serving.etcd.rpartition(":")[2])
        for port in (client, peer):
            assert_nothing_leaks(probe_as_nobody(port))
    finally:
        kill(proc)


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def dropin_environment(pki: Path, client: int, peer: int) -> dict[str, str]:
    """The drop-in's Environment= lines, its paths and ports moved to this test's."""
    env = {}
    for line in DROPIN.read_text().splitlines():
        if line.startswith("Environment="):
            name, _, value = line.removeprefix("Environment=").partition("=")
            env[name] = (value.replace("/etc/roadside/etcd", str(pki))
                         .replace(":2379", f":{client}").replace(":2380", f":{peer}"))
    return env


def test_a_local_user_gets_nothing_from_the_installed_etcd(tmp_path: Path) -> None:
    """Debian's etcd with the drop-in `make install-central` installs, on the files
    `roadside pki etcd --server-dir` makes."""
    pki = tmp_path / "pki"
    etcd_files(SiteCA.init(pki), pki)
    client, peer = free_port(), free_port()
    env = dropin_environment(pki, client, peer)
    assert env["ETCD_PEER_CLIENT_CERT_AUTH"] == "true" and "https" in env["ETCD_LISTEN_PEER_URLS"]
    binary = EtcdProcess(tmp_path / "x").binary
    with open(tmp_path / "etcd.log", "wb") as out:
        etcd = subprocess.Popen([binary, "--data-dir", str(tmp_path / "data")],
                                env={**env, "PATH": "/usr/bin:/bin"}, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: listening(client) and listening(peer), within_s=30,
                   what="etcd listening")
        for port in (client, peer):
            assert_nothing_leaks(probe_as_nobody(port))
        assert etcd.poll() is None, (tmp_path / "etcd.log").read_text()
    finally:
        etcd.terminate()
        etcd.wait(30)
