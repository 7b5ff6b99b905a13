"""`roadside pki ...`: the site PKI, run where the CA lives (central's host).

    roadside pki init                                   the site CA (ca.key 0600)
    roadside pki issue central --dns NAME --ip ADDR     central's server certificate
    roadside pki issue operator NAME --role ROLE        an operator's client certificate
    roadside pki issue detector ID                      a detector's, for labs and simulation
    roadside pki token --detector ID [--ttl 24h]        a one-time enrollment token
    roadside pki revoke SERIAL|NAME                     refused by every central within seconds
    roadside pki list
    roadside pki etcd [--server-dir DIR] [--enable-auth]   an installed etcd: TLS and auth

The CA is in --pki-dir (default: central's data dir + /pki); issued certificates,
revocations and token hashes are in the control etcd (the settings of `central serve`:
--config, ROADSIDE_ETCD_ENDPOINTS, --etcd-endpoints; without endpoints the embedded etcd).
"""

from __future__ import annotations

import argparse
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from roadside.central.config import CentralConfig, load_config, local_etcd
from roadside.central.pki.ca import Issued, PkiError, SiteCA
from roadside.central.pki.etcd import enable_auth, etcd_files
from roadside.central.pki.registry import ETCD_ERRORS, PkiRegistry
from roadside.central.store.client import connect, connect_shards, etcd_tls, tls_files
from roadside.central.store.etcd_store import EtcdStore
from roadside.common.files import write_atomic
from roadside.common.identity import ROLES, Identity, IdentityError, make_token, token_digest
from roadside.common.output import Column, write_rows
from roadside.common.timeparse import format_utc, parse_duration

MAX_TOKEN_TTL_S = 30 * 86_400  # an enrollment token's longest life
MAX_CERT_DAYS = 825  # the longest certificate `pki issue` makes


def control_action(inner: Any, name: str, text: str, example: str, production: str = "",
                   ) -> argparse.ArgumentParser:
    """A subcommand run against central's control etcd and PKI directory (their options).
    `example` runs beside a laptop central; `production` shows a city's deployment."""
    epilog = f"example:\n  {example}" + (f"\nin production:\n  {production}" if production else "")
    a: argparse.ArgumentParser = inner.add_parser(
        name, help=text, description=text, epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("--pki-dir", type=Path, metavar="DIR",
                   help="the site CA's directory (default: DATA_DIR/pki of central serve)")
    a.add_argument("--config", type=Path, metavar="FILE",
                   help="central's YAML settings (etcd endpoints, namespace, data dir)")
    a.add_argument("--etcd-endpoints", nargs="+", metavar="HOST:PORT",
                   help="the control etcd (default: central's settings, else embedded)")
    a.add_argument("--namespace", help="etcd key namespace (default tdc)")
    return a


def add_parser(inner: Any) -> None:
    def action(name: str, text: str, example: str, production: str = ""
               ) -> argparse.ArgumentParser:
        return control_action(inner, name, text, example, production)

    a = action("init", "make the site CA", "roadside pki init --pki-dir lab-pki",
               "roadside pki init --pki-dir /etc/roadside/pki")
    a.set_defaults(func=_init)
    a = action("issue", "issue a certificate (written as KIND-NAME.pem and KIND-NAME.key "
               "(0600), or central.pem)",
               "roadside pki issue operator alice --role analyst")
    a.add_argument("kind", choices=("central", "operator", "detector"))
    a.add_argument("name", nargs="?", default="central",
                   help="operator name, detector id, or central's name (default central)")
    a.add_argument("--role", choices=ROLES, help="an operator's role")
    a.add_argument("--dns", action="append", default=[], metavar="NAME",
                   help="central: a DNS name agents and operators use (repeatable)")
    a.add_argument("--ip", action="append", default=[], metavar="ADDR",
                   help="central: an IP address agents and operators use (repeatable)")
    a.add_argument("--days", type=float, help="lifetime (default: detector 7, operator 90, "
                                              "central 365)")
    a.add_argument("--out", type=Path, metavar="DIR", help="where the files go (default: "
                                                           "the PKI directory)")
    a.set_defaults(func=_issue)
    a = action("token", "a one-time enrollment token for a detector (it pins the CA)",
               "roadside pki token --detector a1-km12 --ttl 24h")
    a.add_argument("--detector", required=True, metavar="ID")
    a.add_argument("--ttl", default="24h", help="valid for (default 24h)")
    a.set_defaults(func=_token)
    a = action("revoke", "revoke certificates by serial (hex) or by name",
               "roadside pki revoke alice")
    a.add_argument("what", metavar="SERIAL|NAME")
    a.set_defaults(func=_revoke)
    a = action("list", "the certificates issued, with their state", "roadside pki list")
    a.set_defaults(func=_list)
    a = action("etcd", "secure an installed etcd: its TLS files, then (running with them) "
               "its users and auth",
               "roadside pki etcd",
               "roadside pki etcd --server-dir /etc/roadside/etcd\n"
               "  systemctl restart etcd\n  roadside pki etcd --enable-auth")
    a.add_argument("--server-dir", type=Path, metavar="DIR",
                   help="also copy the CA and etcd's server certificate and key here (for "
                        "the etcd daemon's user)")
    a.add_argument("--enable-auth", action="store_true",
                   help="connect to the etcd (as its root user, by certificate) and turn "
                        "auth on: the user roadside may use only the namespace")
    a.add_argument("--dns", action="append", default=[], metavar="NAME",
                   help="a name of an etcd member, in its server certificate beside "
                        "localhost (repeatable; when the certificate is first made)")
    a.add_argument("--ip", action="append", default=[], metavar="ADDR",
                   help="an address of an etcd member, beside 127.0.0.1 (repeatable)")
    a.set_defaults(func=_etcd)


def control_config(args: argparse.Namespace) -> CentralConfig:
    flags = {"etcd_endpoints": tuple(args.etcd_endpoints) if args.etcd_endpoints else None,
             "namespace": args.namespace, "pki_dir": args.pki_dir}
    return load_config(args.config, flags=flags, local=local_etcd())


def control_tls(config: CentralConfig) -> tuple[bytes, bytes, bytes] | None:
    """The control etcd's client TLS: central's etcd files, else the embedded etcd's."""
    return etcd_tls(config.etcd_ca_file, config.etcd_cert_file, config.etcd_key_file,
                    config.pki_path)


@contextmanager
def control_store(config: CentralConfig) -> Iterator[EtcdStore]:
    """An EtcdStore of the control etcd and central's detection shards."""
    with control_etcd(config) as client:
        shards = connect_shards(config.detection_shards, config.etcd_timeout_s,
                                control_tls(config))
        store = EtcdStore(client, config.namespace)
        store.use_shards(shards)
        try:
            yield store
        finally:
            store.close()
            for shard in shards.values():
                shard.close()


@contextmanager
def control_etcd(config: CentralConfig) -> Iterator[Any]:
    """A client of central's control etcd (its settings; the embedded one's certificate when
    serve made it); etcd errors become PkiError naming the endpoints."""
    endpoints = config.etcd_endpoints or (f"127.0.0.1:{config.embedded_etcd_port}",)
    client = connect(endpoints, timeout=config.etcd_timeout_s, tls=control_tls(config))
    try:
        yield client
    except ETCD_ERRORS as exc:
        raise PkiError(f"etcd at {','.join(endpoints)}: {exc} (is central's etcd running? "
                       "--etcd-endpoints)") from exc
    finally:
        client.close()


@contextmanager
def _registry(config: CentralConfig) -> Iterator[PkiRegistry]:
    with control_etcd(config) as client:
        yield PkiRegistry(client, config.namespace)


def _init(args: argparse.Namespace) -> int:
    directory = control_config(args).pki_path
    ca = SiteCA.init(directory)
    print(f"site CA made: {directory / 'ca.pem'} (its key {directory / 'ca.key'}, mode 0600)")
    print(f"serial {ca.cert.serial_number:x}; next: roadside pki issue central --dns NAME")
    return 0


def _issue(args: argparse.Namespace) -> int:
    if args.days is not None and not 0 < args.days <= MAX_CERT_DAYS:
        raise PkiError(f"--days: a lifetime of more than 0 and at most {MAX_CERT_DAYS} days, "
                       f"got {args.days:g}")
    try:
        identity = Identity(args.kind, args.name, args.role or "")
    except IdentityError as exc:
        raise PkiError(str(exc)) from exc
    [(issued, cert, key)] = issue_files(control_config(args), [identity], args.out,
                                        days=args.days, dns=args.dns, ips=args.ip)
    print(f"{identity}: {cert} and {key} (0600), serial {issued.cert.serial_number:x}, "
          f"until {issued.cert.not_valid_after_utc:%Y-%m-%d}")
    return 0


def issue_files(config: CentralConfig, identities: list[Identity], out: Path | None = None,
                days: float | None = None, dns: Sequence[str] = (), ips: Sequence[str] = (),
                ) -> list[tuple[Issued, Path, Path]]:
    """Certificates from the site CA in config.pki_path, recorded in the registry, written
    to `out` (default the PKI directory) as central.pem or KIND-NAME.pem with a 0600 key."""
    directory = config.pki_path
    ca = SiteCA.load(directory)
    out = out or directory
    done = []
    with _registry(config) as registry:
        for identity in identities:
            issued = ca.issue(identity, days=days, dns=dns, ips=ips)
            registry.record(issued.cert)
            base = "central" if identity.kind == "central" else f"{identity.kind}-{identity.name}"
            write_atomic(out / f"{base}.key", issued.key_pem, 0o600)
            write_atomic(out / f"{base}.pem", issued.cert_pem, 0o644)
            done.append((issued, out / f"{base}.pem", out / f"{base}.key"))
    return done


def _token(args: argparse.Namespace) -> int:
    config = control_config(args)
    ca = SiteCA.load(config.pki_path)
    try:
        Identity("detector", args.detector)
    except IdentityError as exc:
        raise PkiError(f"--detector: {exc}") from exc
    ttl_s = parse_duration(args.ttl, "--ttl")
    if ttl_s > MAX_TOKEN_TTL_S:
        raise PkiError(f"--ttl: at most {MAX_TOKEN_TTL_S // 86_400} days (a token is for one "
                       f"box about to be installed), got {args.ttl}")
    secret = secrets.token_bytes(32)
    with _registry(config) as registry:
        registry.add_token(token_digest(secret), args.detector, ttl_s)
    print(make_token(secret, ca.cert_pem))
    return 0


def _revoke(args: argparse.Namespace) -> int:
    with _registry(control_config(args)) as registry:
        done = registry.revoke(args.what)
    for rec in done:
        print(f"revoked {rec.serial:x} ({rec.identity})")
    return 0


def _etcd(args: argparse.Namespace) -> int:
    config = control_config(args)
    directory = config.pki_path
    tls, cert, key = etcd_files(SiteCA.load(directory), directory, args.dns, args.ip)
    print(f"etcd's files in {directory}: server {tls.server_cert.name}, root "
          f"{tls.root_cert.name}, client {cert.name} (keys 0600)")
    if args.server_dir is not None:
        for source, mode in ((tls.ca, 0o644), (tls.server_cert, 0o644),
                             (tls.server_key, 0o600)):
            write_atomic(args.server_dir / source.name, source.read_bytes(), mode)
        print(f"copied ca.pem, {tls.server_cert.name} and {tls.server_key.name} to "
              f"{args.server_dir} (give them to etcd's user)")
    if args.enable_auth:
        endpoints = config.etcd_endpoints or (f"127.0.0.1:{config.embedded_etcd_port}",)
        root = connect(endpoints, timeout=config.etcd_timeout_s,
                       tls=tls_files(tls.ca, tls.root_cert, tls.root_key))
        try:
            enable_auth(root, config.namespace)
        except ETCD_ERRORS as exc:
            raise PkiError(f"etcd at {','.join(endpoints)}: {exc} (is it running with TLS and "
                           "client certificates? see systemd/etcd-roadside.conf)") from exc
        finally:
            root.close()
        print(f"etcd at {','.join(endpoints)}: auth on; user roadside limited to "
              f"/{config.namespace}/")
    print(f"central and workers: etcd_ca_file {tls.ca}, etcd_cert_file {cert}, "
          f"etcd_key_file {key}")
    return 0


COLUMNS = (
    Column("serial", "SERIAL", lambda v: f"{int(v):x}"),
    Column("identity", "IDENTITY"),
    Column("not_after_ns", "VALID UNTIL (UTC)", lambda v: format_utc(int(v))),
    Column("revoked_ns", "REVOKED (UTC)", lambda v: format_utc(int(v)) if v else "-"),
)


def _list(args: argparse.Namespace) -> int:
    with _registry(control_config(args)) as registry:
        records = registry.certs()
    write_rows(COLUMNS, "table", ({"serial": r.serial, "identity": str(r.identity),
                                   "not_after_ns": r.not_after_ns, "revoked_ns": r.revoked_ns}
                                  for r in records))
    return 0
