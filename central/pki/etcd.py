"""The embedded etcd secured from the site PKI: TLS with client certificates, and auth.

Files in pki_dir (made once): `etcd-server.pem` (127.0.0.1, localhost), `etcd-root.pem`
(CN root: only to set auth up) and `etcd-client.pem` (CN roadside: central, the workers
and `roadside pki`), keys 0600. etcd takes the client certificate's CN as the user; the
user `roadside` has one role, read and write on the namespace prefix `/{ns}/` only. A
local user who cannot read these files (central's are 0600) can neither read nor delete
a key: without a certificate of the site CA the TLS handshake is refused.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from pathlib import Path

import etcd3
import grpc
from etcd3.etcdrpc import auth_pb2, rpc_pb2

from roadside.central.pki.ca import SiteCA
from roadside.central.store import keys
from roadside.central.store.etcd_process import EtcdTls
from roadside.common.files import write_atomic

log = logging.getLogger(__name__)

ETCD_USER = "roadside"
AUTH_TIMEOUT_S = 5.0


def etcd_files(ca: SiteCA, pki_dir: Path, dns: Sequence[str] = (),
               ips: Sequence[str] = ()) -> tuple[EtcdTls, Path, Path]:
    """etcd's TLS files and the (certificate, key) of the roadside user; the server's
    certificate names localhost, 127.0.0.1 and `dns`, `ips` (the etcd members' own names
    and addresses). Files already there are kept."""
    made = {}
    for name, cn, server in (("etcd-server", "etcd", True), ("etcd-root", "root", False),
                             (f"etcd-{'client'}", ETCD_USER, False)):
        cert, key = pki_dir / f"{name}.pem", pki_dir / f"{name}.key"
        if not cert.exists() or not key.exists():
            issued = ca.issue_named(cn, server=server,
                                    dns=["localhost", *dns] if server else (),
                                    ips=["127.0.0.1", *ips] if server else ())
            write_atomic(key, issued.key_pem, 0o600)
            write_atomic(cert, issued.cert_pem, 0o644)
        made[name] = (cert, key)
    tls = EtcdTls(pki_dir / "ca.pem", *made["etcd-server"], *made["etcd-root"])
    return tls, *made["etcd-client"]


def enable_auth(root: etcd3.MultiEndpointEtcd3Client, namespace: str) -> None:
    """Users root and roadside, roadside's role limited to /{namespace}/, auth on. Safe
    to call again (an etcd with auth on is left as it is)."""
    stub = root.authstub

    def call(method: str, request: object) -> None:
        try:
            getattr(stub, method)(request, AUTH_TIMEOUT_S, credentials=root.call_credentials,
                                  metadata=root.metadata)
        except grpc.RpcError as exc:
            if "already" not in str(exc.details()):
                raise

    prefix = f"/{namespace}/"
    call("UserAdd", rpc_pb2.AuthUserAddRequest(name="root", password=secrets.token_hex(24)))
    call("UserGrantRole", rpc_pb2.AuthUserGrantRoleRequest(user="root", role="root"))
    call("UserAdd", rpc_pb2.AuthUserAddRequest(name=ETCD_USER, password=secrets.token_hex(24)))
    call("RoleAdd", rpc_pb2.AuthRoleAddRequest(name=ETCD_USER))
    call("RoleGrantPermission", rpc_pb2.AuthRoleGrantPermissionRequest(
        name=ETCD_USER, perm=auth_pb2.Permission(
            permType=auth_pb2.Permission.READWRITE, key=prefix.encode(),
            range_end=keys.prefix_end(prefix).encode())))
    call("UserGrantRole", rpc_pb2.AuthUserGrantRoleRequest(user=ETCD_USER, role=ETCD_USER))
    call("AuthEnable", rpc_pb2.AuthEnableRequest())
    log.info("etcd: TLS with client certificates, auth on; user %s limited to %s",
             ETCD_USER, prefix)
