"""`roadside central http`: the HTTP feeds on their own, against central's etcd (scale-out:
as many as the desk needs, beside `central serve`), until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from types import FrameType

from roadside.central.cli.serve import HELP
from roadside.central.cli.settings import add_setting_flags, setting_flags
from roadside.central.config import CentralConfig, load_config, local_etcd
from roadside.central.errors import CentralError
from roadside.common import output

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "http", help="serve only the HTTP feeds, against central's etcd",
        description="The HTTP feeds (JSON, GeoJSON, DATEX II, the dashboard) of `central "
        "serve` on their own, reading central's etcd: etcd_endpoints (and its certificate "
        "files) are needed; HTTPS with central's certificate from pki_dir unless insecure. "
        "The same settings file and ROADSIDE_* variables as `central serve`.",
        epilog="example (beside a laptop central):\n  roadside central http --http-port 8081\n"
        "in production:\n  roadside central http --config /etc/roadside/central.yaml",
        formatter_class=output.HelpFormatter,
    )
    add_setting_flags(parser, CentralConfig, HELP)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from roadside.central.http.server import HttpServer
    from roadside.central.store.client import connect, etcd_tls
    from roadside.central.store.etcd_store import EtcdStore

    # beside a laptop central: its etcd, found by itself (serve's own settings have none)
    config = load_config(args.config, flags=setting_flags(args, CentralConfig),
                         local=local_etcd())
    if not config.etcd_endpoints:
        raise CentralError("etcd_endpoints: `central http` reads central's etcd; name it "
                           "(--etcd-endpoints HOST:PORT)")
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("%s received: stopping", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    client = connect(config.etcd_endpoints, timeout=config.etcd_timeout_s,
                     tls=etcd_tls(config.etcd_ca_file, config.etcd_cert_file,
                                  config.etcd_key_file, config.pki_path))
    try:
        server = HttpServer(config, EtcdStore(client, config.namespace))
        server.start()
        try:
            stop.wait()
        finally:
            server.stop()
    finally:
        client.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
