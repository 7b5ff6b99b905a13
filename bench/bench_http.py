"""HTTP feeds benchmark: requests/s of the JSON and DATEX II feeds for a network of N links,
beside a static file served by the same server in the same run; and how long a window takes
from being written to being in the feed.

    python bench/bench_http.py [--links 500] [--requests 200] [--clients 4]

Starts its own etcd and central (HTTP on), registers N+1 detectors on a line and N links,
writes the last hour's windows of every link (12 each), issues an API key, then times
`--requests` GETs of each path from `--clients` threads.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.local_central import local_central
from roadside.central.http.apikeys import ApiKeys
from roadside.central.http.feed_bodies import FRESH_S
from roadside.central.store.records import DetectorRecord, LinkRecord
from roadside.central.traveltime import store
from roadside.central.traveltime.model import Figures, WindowSummary

S = 1_000_000_000
W = 300
TARGET = 0.3  # each feed's rate / the static file's, same run


def window(link: LinkRecord, start_s: int, median: float) -> WindowSummary:
    f = Figures(median, median * 0.9, median * 0.95, median * 1.05, median * 1.1, 3.0)
    return WindowSummary(link.src, link.dest, "", start_s * S, (start_s + W) * S, 12, False, f,
                         samples_s=tuple(median + i % 5 for i in range(12)),
                         computed_ns=time.time_ns(), worker="bench")


def build(central: object, links: int) -> list[LinkRecord]:
    s = central.store  # type: ignore[attr-defined]
    for i in range(links + 1):
        s.register_detector(DetectorRecord(f"d{i}", f"Detector {i}", 52.0 + i / 1000, 5.0))
    records = [LinkRecord(f"d{i}", f"d{i + 1}", 900, 1000.0) for i in range(links)]
    for link in records:
        s.set_links(link.dest, [link])
    now_w = (int(time.time()) - W) // W * W
    items = []
    for link in records:
        target = store.link_target(link)
        items += [(target, window(link, now_w - n * W, 60.0 + n)) for n in range(12)]
    for i in range(0, len(items), 2000):
        store.write_windows(s.client, s.namespace, items[i:i + 2000])
    return records


def rate(url: str, key: str, requests: int, clients: int) -> tuple[float, float, int]:
    """(requests/s, median seconds per request, bytes of one reply)."""
    times: list[float] = []
    size = 0
    lock = threading.Lock()
    per = max(1, requests // clients)

    def run() -> None:
        nonlocal size
        for _ in range(per):
            req = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
            t0 = time.perf_counter()
            with urllib.request.urlopen(req, timeout=120) as reply:
                body = reply.read()
            with lock:
                times.append(time.perf_counter() - t0)
                size = len(body)

    threads = [threading.Thread(target=run) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(times) / (time.perf_counter() - start), statistics.median(times), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--links", type=int, default=500)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, local_central(Path(tmp), http=True) as central:
        records = build(central, args.links)
        key = ApiKeys(central.store.client, central.store.namespace).issue("bench", "viewer")
        base = central.http_url
        rate(f"{base}/api/v1/travel-times", key, args.clients, args.clients)  # warm caches
        static = rate(f"{base}/dashboard/style.css", key, args.requests * 10, args.clients)
        print(f"network: {args.links} links, 12 windows each in the last hour")
        print(f"baseline static file: {static[0]:8.1f} req/s (median {static[1] * 1000:.1f} ms)")
        for name, path in (("JSON travel times", "/api/v1/travel-times"),
                           ("DATEX II", "/datex2/v3/travel-times.xml"),
                           ("GeoJSON network", "/api/v1/network.geojson")):
            built = rate(f"{base}{path}", key, 1, 1)[1]  # its first request builds the body
            r, med, size = rate(f"{base}{path}", key, args.requests, args.clients)
            ratio = r / static[0]
            print(f"{name:20s} {r:8.2f} req/s (median {med * 1000:.1f} ms, {size / 1e6:.2f} MB), "
                  f"{ratio:.2f} of the static file (target {TARGET}: "
                  f"{'meets' if ratio >= TARGET else 'MISSES'}); built in {built:.2f} s")
        # written -> visible: a new window of the first link, then polls of its feed
        link = records[0]
        new_start = (int(time.time()) // W) * W + W  # a window nobody has seen yet
        url = f"{base}/api/v1/travel-times"  # the whole feed, as the desk polls it
        t0 = time.perf_counter()
        store.write_windows(central.store.client, central.store.namespace,
                            [(store.link_target(link), window(link, new_start, 99.0))])
        while True:
            req = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
            with urllib.request.urlopen(req, timeout=60) as reply:
                if str(new_start * S).encode() in reply.read():
                    break
        print(f"window written -> in the JSON feed: {time.perf_counter() - t0:.3f} s "
              f"(a body is served {FRESH_S:g} s before etcd is asked again; target: within 2 s)")


if __name__ == "__main__":
    main()
