"""The desk's first complete paint for a city-sized network, in Chromium, beside an empty
page's first paint from a server on the same machine.

    python bench/bench_dashboard.py [--links 500] [--rounds 3]

Starts etcd and central (HTTP on), registers N+1 detectors and N links with 12 windows each
(bench_http's network), then loads /dashboard/ with a viewer key in headless Chromium and
reads the page's own mark "roadside-complete" (set once the map, the tables and the alerts
are drawn for the first time) from the Performance API; the baseline is the first
contentful paint of an empty HTML page. Target: the dashboard <= 1 s (median of rounds).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_http import build
from bench.local_central import local_central
from roadside.central.http.apikeys import ApiKeys

TARGET_S = 1.0
WAIT_S = 60


class Empty(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>empty</title><p>empty"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


def browser() -> object:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--window-size=1400,1000"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))


def paint_s(driver: object, url: str, mark: str) -> float:
    """Seconds from navigation start to `mark` (a performance mark, or the paint entry
    "first-contentful-paint")."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get("about:blank")  # type: ignore[attr-defined]
    driver.get(url)  # type: ignore[attr-defined]
    script = ("return (performance.getEntriesByName(arguments[0])[0] || {}).startTime "
              "|| null")
    ms = WebDriverWait(driver, WAIT_S).until(
        lambda d: d.execute_script(script, mark))  # type: ignore[attr-defined]
    return float(ms) / 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--links", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        print("needs Debian's chromium and chromium-driver (make system-deps)")
        return 1
    empty = ThreadingHTTPServer(("127.0.0.1", 0), Empty)
    threading.Thread(target=empty.serve_forever, daemon=True).start()
    driver = browser()
    try:
        with tempfile.TemporaryDirectory() as tmp, local_central(Path(tmp), http=True) as central:
            build(central, args.links)
            key = ApiKeys(central.store.client, central.store.namespace).issue("bench", "viewer")
            page = f"{central.http_url}/dashboard/#key={key}"
            blank = f"http://127.0.0.1:{empty.server_address[1]}/"
            paint_s(driver, page, "roadside-complete")  # warm: the feeds' first build
            desk, base = [], []
            for n in range(args.rounds):
                base.append(paint_s(driver, blank, "first-contentful-paint"))
                desk.append(paint_s(driver, page, "roadside-complete"))
                print(f"  round {n + 1}/{args.rounds}", file=sys.stderr, flush=True)
            drawn = driver.execute_script(  # type: ignore[attr-defined]
                "return document.querySelectorAll('#map path.link').length")
    finally:
        driver.quit()  # type: ignore[attr-defined]
        empty.shutdown()
    d, b = statistics.median(desk), statistics.median(base)
    print(f"network: {args.links} links ({drawn} lines drawn), median of {args.rounds} rounds")
    print(f"baseline: an empty page's first paint {b * 1000:.0f} ms")
    print(f"dashboard: first complete paint {d * 1000:.0f} ms = {d / b:.1f}x the empty page "
          f"(target {TARGET_S:g} s: {'meets' if d <= TARGET_S else 'MISSES'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
