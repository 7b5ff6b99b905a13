"""Alerts on real etcd: a slowdown raises Warn then Bad and clears; a webhook on loopback gets
each change once (also when the first POST fails and when the evaluator is replaced); one
worker at a time evaluates, and `roadside alerts list` shows the states."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from roadside.central.api import wire
from roadside.central.store import keys
from roadside.central.store.etcd_process import EtcdProcess
from roadside.central.store.records import DetectorRecord
from roadside.central.traveltime import alerts, engine, stats, store
from roadside.central.traveltime.worker import TravelTimeWorker
from roadside.common.main import main
from roadside.proto.v1 import types_pb2
from tests.fixtures.polling import eventually
from tests.fixtures.traveltime import DAY_AGO_S, Road, S

W = 300
RULES = alerts.AlertRules(for_s=600)  # two windows in a row


class Receiver:
    """A webhook on loopback: keeps each JSON body it answered 2xx; fails the first POST."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, object]] = []
        self.refused = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if receiver.refused == 0:
                    receiver.refused += 1
                    self.send_response(500)
                else:
                    receiver.bodies.append(body)
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def windows_at(road: Road, starts: list[int], travel_s: float, first: int) -> None:
    for n, ws in enumerate(starts):
        road.trips("a", "b", int((ws + 250 - travel_s) * S), [travel_s + i % 3 for i in range(8)],
                   first_device=first + n * 100, spacing_s=2)
    [link] = store.all_targets(road.client, road.namespace, 1800)
    done = engine.compute_windows(road.client, road.namespace, link, starts, W, stats.Rules())
    store.write_windows(road.client, road.namespace, [(link, w) for w in done])


def test_a_slowdown_raises_warn_then_bad_and_clears_each_change_posted_once(
    road: Road, receiver: Receiver,
) -> None:
    road.link("a", "b", max_seconds=900)
    t = DAY_AGO_S + 6 * 3600  # a window start; the history before it is free-flowing
    windows_at(road, [t - n * W for n in range(14, 0, -1)], 100.0, 0)
    rules = alerts.AlertRules(for_s=600, webhooks=(receiver.url,))
    first = alerts.AlertEvaluator(road.client, road.namespace, rules, W)
    targets = store.all_targets(road.client, road.namespace, 1800)

    def at(*starts: int, travel: float, now: int) -> list[str]:
        windows_at(road, list(starts), travel, 10_000 + starts[0])
        return [c["level"] for c in evaluator.evaluate(targets, (now + W) * S)]

    evaluator = first
    assert at(t, t + W, travel=101.0, now=t + W) == []  # normal: nothing to say
    assert at(t + 2 * W, travel=131.0, now=t + 2 * W) == []  # one slow window is not enough
    assert at(t + 3 * W, travel=131.0, now=t + 3 * W) == ["warn"]  # 1.3 x normal for 10 min
    assert receiver.bodies == [] and receiver.refused == 1  # refused: kept in the outbox
    evaluator = alerts.AlertEvaluator(road.client, road.namespace, rules, W)  # a new worker
    assert at(t + 4 * W, t + 5 * W, travel=171.0, now=t + 5 * W) == ["bad"]
    assert at(t + 6 * W, travel=99.0, now=t + 6 * W) == ["ok"]  # recovered: cleared
    assert [b["level"] for b in receiver.bodies] == ["warn", "bad", "ok"]
    assert len({b["id"] for b in receiver.bodies}) == 3
    assert receiver.bodies[1]["previous"] == "warn" and "a/b" in str(receiver.bodies[1])
    assert list(road.client.get_prefix(keys.alert_outbox_prefix(road.namespace))) == []
    [state] = alerts.states(road.client, road.namespace)
    assert (state["subject"], state["level"]) == ("link/a/b", "ok")
    # the changes stay in the history (kept HISTORY_DAYS), the newest first
    kept = alerts.history(road.client, road.namespace, since_ns=t * S)
    assert [(c["previous"], c["level"]) for c in kept] == [("bad", "ok"), ("warn", "bad"),
                                                           ("ok", "warn")]
    assert alerts.history(road.client, road.namespace, since_ns=(t + 6 * W) * S + 1) == kept[:1]


def test_detector_rules() -> None:
    now = time.time_ns()

    def level(**status: object) -> str:
        return alerts.detector_level("d", {"reported_ns": now, **status}, now, RULES).level

    assert alerts.detector_level("d", {"reported_ns": now - 3600 * S}, now, RULES).level == "bad"
    assert level() == "ok" and level(oldest_unsent_age_s=4000) == "warn"
    assert level(clock_sync="CLOCK_SYNC_UNSYNCED") == "warn"
    assert level(battery_voltage=10.9) == "warn" and level(battery_voltage=12.6) == "ok"
    assert alerts.detector_level("d", None, now, RULES).reason == "never reported"


async def test_one_worker_evaluates_and_the_cli_lists_the_states(
    road: Road, etcd_server: EtcdProcess, capsys: pytest.CaptureFixture[str],
) -> None:
    road.store.register_detector(DetectorRecord("z", "Quiet box"))
    old = time.time_ns() - 2 * 3600 * S
    status = types_pb2.AgentStatus(detector_id="z", reported_ns=old)
    road.store.put_status("z", wire.status_to_dict(status), old)
    fast = {"window_s": 2, "grace_s": 0.3, "lock_ttl_s": 2, "alert_every_s": 0.2}
    w1 = TravelTimeWorker(road.client, road.config(worker_id="w1", **fast))
    w2 = TravelTimeWorker(road.client, road.config(worker_id="w2", **fast))
    async with w1, w2:
        await eventually(lambda: any(s["subject"] == "detector/z" and s["level"] == "bad"
                                     for s in alerts.states(road.client, road.namespace)),
                         what="the silent detector's alert", in_thread=True)
        holder, _meta = road.client.get(keys.alerts_lock(road.namespace))
        assert holder in (b"w1", b"w2")
    assert main(["alerts", "list", "--etcd-endpoints", etcd_server.endpoint,
                 "--namespace", road.namespace, "--format", "json"]) == 0
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (row["subject"], row["level"]) == ("detector/z", "bad")
    assert "silent" in row["reason"]
