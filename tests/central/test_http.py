"""The HTTP feeds of a real central on loopback: API keys, open data, JSON, GeoJSON, detector
health and DATEX II v3 validated against the official schemas."""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from lxml import etree

from roadside.central.api import wire
from roadside.central.api.server import RunningCentral
from roadside.central.http.apikeys import ApiKeys
from roadside.central.http.datex import publication
from roadside.central.http.feed_bodies import FRESH_S
from roadside.central.pki.registry import PkiRegistry
from roadside.central.store import keys as store_keys
from roadside.central.store.etcd_process import EtcdProcess
from roadside.central.store.records import DetectorRecord, LinkRecord
from roadside.central.traveltime import alerts, engine, profiles, stats, store
from roadside.central.traveltime.model import Target, WindowSummary
from roadside.common.identity import Identity
from roadside.common.main import main
from roadside.proto.v1 import types_pb2
from tests.fixtures.polling import wait_until
from tests.fixtures.traveltime import Road, S
from tests.fixtures.trust import DETECTOR_A, VIEWER, Site

pytestmark = pytest.mark.wheel  # also run against the installed wheel

W = 300
SCHEMAS = Path(__file__).resolve().parents[1] / "data" / "schemas" / "datex2-v3"
DATEX_NS = {"roa": "http://datex2.eu/schema/3/roadTrafficData",
            "loc": "http://datex2.eu/schema/3/locationReferencing"}
CALL_S = 20
FRESH_WAIT_S = FRESH_S + CALL_S  # a feed body is served FRESH_S before etcd is asked again


SITE_CONTEXT: ssl.SSLContext | None = None  # trusts the test's site CA (_trust_the_site)


@pytest.fixture(autouse=True)
def _trust_the_site(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTPS calls of this module trust the test's site CA, which made central's certificate."""
    monkeypatch.setattr(sys.modules[__name__], "SITE_CONTEXT",
                        ssl.create_default_context(cafile=str(site.ca_file)))


def get(url: str, key: str | None = None, context: ssl.SSLContext | None = None,
        ) -> tuple[int, bytes, str]:
    """(status, body, content type) of a GET; HTTPS trusting the site CA unless `context`."""
    context = context or SITE_CONTEXT
    request = urllib.request.Request(url)
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=CALL_S, context=context) as reply:
            return reply.status, reply.read(), reply.headers.get("content-type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get("content-type", "")


def corridor(road: Road) -> int:
    """a -> b (1 km) with three windows in the last hour: 20 devices, 2 (suppressed), none;
    b -> c with none at all. Returns the first window's start (s)."""
    for i, det in enumerate("abc"):
        road.store.register_detector(DetectorRecord(det, f"Gate {det}", 52.0 + i / 100, 5.0))
    road.link("a", "b", max_seconds=900, length_m=1000.0)
    road.link("b", "c", max_seconds=900)
    t0 = (int(time.time()) - 3000) // W * W
    road.trips("a", "b", (t0 + 10) * S, [60.0 + i % 5 for i in range(20)], spacing_s=5)
    road.trips("a", "b", (t0 + W + 10) * S, [61.0, 62.0], first_device=100)
    [link] = [t for t in store.all_targets(road.client, road.namespace, 1800)
              if t.dest == "b"]
    done = engine.compute_windows(road.client, road.namespace, link, [t0, t0 + W, t0 + 2 * W],
                                  W, stats.Rules())
    store.write_windows(road.client, road.namespace, [(link, w) for w in done])
    return t0


@pytest.fixture
def http_central(start_test_central: Callable[..., RunningCentral]) -> RunningCentral:
    return start_test_central(http=True)


def test_feeds_need_a_key_and_a_revoked_key_is_refused(
    http_central: RunningCentral, road: Road,
) -> None:
    corridor(road)
    url = f"{http_central.http_url}/api/v1/travel-times"
    code, body, _ = get(url)
    assert code == 401 and b"API key" in body
    keys = ApiKeys(road.client, road.namespace)
    key = keys.issue("desk", "viewer")
    code, body, kind = get(url, key)
    assert code == 200 and kind == "application/json"
    keys.revoke("desk")
    wait_until(lambda: get(url, key)[0] == 401, 10, "the revoked key to be refused")
    assert get(url, "rsk1.not-a-key")[0] == 401


def test_the_json_feed_says_ok_suppressed_and_no_data_with_figures_only_when_ok(
    http_central: RunningCentral, road: Road,
) -> None:
    t0 = corridor(road)
    key = ApiKeys(road.client, road.namespace).issue("desk", "viewer")
    code, body, _ = get(f"{http_central.http_url}/api/v1/travel-times", key)
    assert code == 200
    entries = {e["id"]: e for e in json.loads(body)["entries"]}
    ab, bc = entries["link/a/b"], entries["link/b/c"]
    first, thin, empty = ab["recent"]
    assert first["window_start_ns"] == t0 * S and first["state"] == "ok"
    assert first["median_s"] == 62.0 and first["samples"] == 20 and first["devices"] == 20
    assert first["quality"] == 1.0  # nothing rejected
    assert first["speed_kmh"] == pytest.approx(1000 / 62 * 3.6)
    assert first["stddev_s"] == pytest.approx(1.4510, abs=1e-3)
    assert thin["state"] == "suppressed"  # two devices: not even a count
    assert {thin[k] for k in ("samples", "median_s", "travel_time_s", "speed_kmh")} == {None}
    assert empty["state"] == "no_data" and empty["samples"] == 0
    assert ab["current"] == empty and ab["length_m"] == 1000.0
    assert bc["current"] is None and bc["recent"] == [] and bc["length_m"] is None
    code, body, _ = get(f"{http_central.http_url}/api/v1/travel-times?id=link/b/c", key)
    assert code == 200 and [e["id"] for e in json.loads(body)["entries"]] == ["link/b/c"]
    assert get(f"{http_central.http_url}/api/v1/travel-times?id=link/x/y", key)[0] == 404
    code, body, _ = get(f"{http_central.http_url}/api/v1/travel-times?hours=0", key)
    assert code == 422 and b"hours" in body
    hours = (time.time() - (t0 + W / 2)) / 3600  # from the middle of the first window on
    code, body, _ = get(f"{http_central.http_url}/api/v1/travel-times?id=link/a/b&hours={hours}",
                        key)
    assert [w["state"] for w in json.loads(body)["entries"][0]["recent"]] == ["suppressed",
                                                                             "no_data"]


def window_of_a_b(road: Road, start_s: int, provisional: bool = False) -> tuple[Target,
                                                                              WindowSummary]:
    """Link a -> b and its window from start_s, as a worker computes it."""
    [link] = [t for t in store.all_targets(road.client, road.namespace, 1800) if t.dest == "b"]
    [window] = engine.compute_windows(road.client, road.namespace, link, [start_s], W,
                                      stats.Rules())
    return link, dataclasses.replace(window, provisional=provisional)


def test_a_window_written_is_in_the_feed_within_a_second_though_it_keeps_its_entries(
    http_central: RunningCentral, road: Road,
) -> None:
    """Feed bodies are served from memory (feed_bodies.FRESH_S) and built again only where
    something changed: a window written, a new link, show within FRESH_S."""
    t0 = corridor(road)
    url = f"{http_central.http_url}/api/v1/travel-times"
    key = ApiKeys(road.client, road.namespace).issue("desk", "viewer")

    def entry(target: str) -> dict[str, Any] | None:
        return next((e for e in json.loads(get(url, key)[1])["entries"] if e["id"] == target),
                    None)
    assert entry("link/a/b")["current"]["state"] == "no_data"  # type: ignore[index]
    # a worker rewrites the last window with late passes: the feed has it
    road.trips("a", "b", (t0 + 2 * W + 10) * S, [70.0 + i for i in range(6)],
               first_device=500, spacing_s=5)
    link, late = window_of_a_b(road, t0 + 2 * W)
    store.write_windows(road.client, road.namespace, [(link, late)])
    wait_until(lambda: entry("link/a/b")["current"]["state"] == "ok",  # type: ignore[index]
               within_s=FRESH_WAIT_S, what="the late window in the feed")
    assert entry("link/a/b")["current"]["median_s"] == 72.5  # type: ignore[index]
    road.link("c", "a", max_seconds=600)  # a new link: in the feed too
    wait_until(lambda: entry("link/c/a") is not None, within_s=FRESH_WAIT_S,
               what="the new link in the feed")
    assert entry("link/c/a")["recent"] == []  # type: ignore[index]


def test_feeds_answer_304_while_nothing_changed(http_central: RunningCentral, road: Road) -> None:
    """A desk polling the feeds gets its copy confirmed (ETag, If-None-Match) until a
    window is written."""
    t0 = corridor(road)
    key = ApiKeys(road.client, road.namespace).issue("desk", "viewer")

    def fetch(path: str, tag: str = "") -> tuple[int, str]:
        request = urllib.request.Request(f"{http_central.http_url}{path}",
                                         headers={"Authorization": f"Bearer {key}",
                                                  **({"If-None-Match": tag} if tag else {})})
        try:
            with urllib.request.urlopen(request, timeout=CALL_S, context=SITE_CONTEXT) as r:
                return r.status, r.headers["ETag"]
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers["ETag"]

    for path in ("/api/v1/travel-times", "/api/v1/network.geojson"):
        code, tag = fetch(path)
        assert code == 200 and tag.startswith('"')
        assert fetch(path, tag) == (304, tag)
        road.trips("a", "b", (t0 + 2 * W + 10) * S, [70.0 + i for i in range(6)],
                   first_device=700 + len(path), spacing_s=5)
        link, late = window_of_a_b(road, t0 + 2 * W)
        store.write_windows(road.client, road.namespace, [(link, late)])
        wait_until(lambda: fetch(path, tag)[0] == 200,  # noqa: B023 (called at once)
                   within_s=FRESH_WAIT_S, what=f"{path} changed")
        code, changed = fetch(path, tag)
        assert code == 200 and changed != tag, path


def test_alert_changes_of_the_last_hours_newest_first(
    http_central: RunningCentral, road: Road,
) -> None:
    corridor(road)
    evaluator = alerts.AlertEvaluator(road.client, road.namespace, alerts.AlertRules(), W)
    now = time.time_ns()
    for n, level in enumerate(("warn", "bad")):  # what a worker records as a link worsens
        evaluator._record(alerts.Finding("link/a/b", level, f"step {n}"), now - (2 - n) * S)
    key = ApiKeys(road.client, road.namespace).issue("desk", "viewer")
    code, body, _ = get(f"{http_central.http_url}/api/v1/alerts/history?hours=1", key)
    assert code == 200, body
    changes = json.loads(body)["changes"]
    assert [(c["previous"], c["level"], c["reason"]) for c in changes] == [
        ("warn", "bad", "step 1"), ("ok", "warn", "step 0")]
    assert get(f"{http_central.http_url}/api/v1/alerts/history", None)[0] == 401


def test_data_quality_per_link_over_a_period(http_central: RunningCentral, road: Road) -> None:
    corridor(road)  # a -> b: of the last hour's 12 windows, 1 with figures (20 samples), 1
    # suppressed, 1 with nobody; b -> c: nothing at all
    key = ApiKeys(road.client, road.namespace).issue("desk", "viewer")
    code, body, _ = get(f"{http_central.http_url}/api/v1/quality?hours=1", key)
    assert code == 200, body
    found = {t["id"]: t for t in json.loads(body)["targets"]}
    ab, bc = found["link/a/b"], found["link/b/c"]
    assert (ab["windows"], ab["window_s"]) == (12, W)
    assert ab["published_share"] == pytest.approx(1 / 12)
    assert ab["suppressed_share"] == pytest.approx(1 / 12)
    assert ab["no_data_share"] == pytest.approx(10 / 12)
    assert ab["samples_per_hour"] == 20.0  # the suppressed window's two are not told
    assert bc["published_share"] == 0 and bc["no_data_share"] == 1.0
    assert get(f"{http_central.http_url}/api/v1/quality", None)[0] == 401
    code, body, _ = get(f"{http_central.http_url}/api/v1/quality?hours=999", key)
    assert code == 422 and b"hours" in body


def test_reports_over_http_and_the_od_matrix_for_analysts_only(
    http_central: RunningCentral, road: Road,
) -> None:
    corridor(road)  # a -> b: one window with figures (20 devices) in the last hour
    road.trips("a", "c", (int(time.time()) - 1200) * S, [100.0] * 6, first_device=300)
    keys = ApiKeys(road.client, road.namespace)
    viewer, analyst = keys.issue("desk", "viewer"), keys.issue("study", "analyst")
    base = f"{http_central.http_url}/api/v1/reports"
    code, body, _ = get(f"{base}/reliability?id=link/a/b&by=day", viewer)
    assert code == 200, body
    [row] = json.loads(body)["rows"]
    assert row["windows"] == 1 and row["tti"] == pytest.approx(1.0)
    code, body, _ = get(f"{base}/coverage?id=link/a/b", viewer)
    [row] = json.loads(body)["rows"]
    assert (row["published"], row["suppressed"]) == (1, 1)  # the third: nobody
    assert get(f"{base}/profile?id=link/x/y", viewer)[0] == 404
    code, body, _ = get(f"{base}/reliability?id=link/a/b&by=month", viewer)
    assert code == 422 and b"by: one of" in body
    assert get(f"{base}/reliability?id=link/a/b", None)[0] == 401
    code, body, _ = get(f"{base}/od", viewer)  # per-device passes: not for a viewer
    assert code == 403 and b"analyst" in body
    code, body, _ = get(f"{base}/od", analyst)
    assert code == 200, body
    cells = {(r["origin"], r["destination"]): r["devices"] for r in json.loads(body)["rows"]}
    assert cells[("a", "b")] == 22 and cells[("a", "c")] == 6  # 20 + 2 devices; 6 >= k
    assert ("b", "c") not in cells
    assert any(e["method"] == "report od" for e in road.store.audit())


def test_a_day_of_one_link_on_the_site_clock(http_central: RunningCentral, road: Road) -> None:
    t0 = corridor(road)
    key = ApiKeys(road.client, road.namespace).issue("desk", "viewer")
    url = f"{http_central.http_url}/api/v1/travel-times?id=link/a/b&day="
    day = datetime.datetime.fromtimestamp(t0, datetime.UTC).date()  # no http_time_zone: UTC

    def windows(of: datetime.date) -> list[int]:
        code, body, _ = get(url + of.isoformat(), key)
        assert code == 200, body
        return [w["window_start_ns"] for w in json.loads(body)["entries"][0]["recent"]]
    assert windows(day)[0] == t0 * S
    assert windows(day - datetime.timedelta(days=1)) == []
    code, body, _ = get(url + "2026-13-01", key)
    assert code == 422 and b"day: expected YYYY-MM-DD" in body
    code, body, _ = get(f"{http_central.http_url}/api/v1/travel-times?day={day}", key)
    assert code == 422 and b"day: give id too" in body


def test_the_feeds_carry_the_live_figure_marked_provisional(
    http_central: RunningCentral, road: Road,
) -> None:
    t0 = corridor(road)
    key = ApiKeys(road.client, road.namespace).issue("desk", "viewer")
    url = f"{http_central.http_url}/api/v1/travel-times?id=link/a/b"
    assert json.loads(get(url, key)[1])["entries"][0]["live"] is None  # no worker made one
    link, live = window_of_a_b(road, t0 - 100, provisional=True)  # what a worker writes
    road.client.put(store_keys.live_key(road.namespace, link.path), live.to_json())
    wait_until(lambda: json.loads(get(url, key)[1])["entries"][0]["live"] is not None,
               within_s=FRESH_WAIT_S, what="the live figure in the feed")
    figure = json.loads(get(url, key)[1])["entries"][0]["live"]
    assert figure["provisional"] is True and figure["state"] == "ok"
    assert figure["window_end_ns"] == (t0 + W - 100) * S and figure["samples"] == 20

    def live_on_the_map() -> object:
        network = json.loads(get(f"{http_central.http_url}/api/v1/network.geojson", key)[1])
        [ab] = [f for f in network["features"] if f["id"] == "link/a/b"]
        return ab["properties"]["live_travel_time_s"]
    wait_until(lambda: live_on_the_map() is not None, within_s=FRESH_WAIT_S,
               what="the live figure on the map")
    assert live_on_the_map() == figure["travel_time_s"]


@pytest.mark.parametrize("with_data", [True, False])
def test_datex_ii_validates_against_the_official_schemas(
    http_central: RunningCentral, road: Road, with_data: bool,
) -> None:
    if with_data:
        corridor(road)
        [ab] = [t for t in store.all_targets(road.client, road.namespace, 1800)
                if t.dest == "b"]
        profiles.write(road.client, road.namespace, ab, profiles.Profile(
            (65.0,) * profiles.BINS, 58.0, 4, 0.0, time.time_ns()))
    else:  # links, but no window at all; a -> b along its road
        for det in "ab":
            road.store.register_detector(DetectorRecord(det, det, 52.0, 5.0))
        road.store.set_links("b", [LinkRecord("a", "b", 600, geometry=(
            5.0, 52.0, 5.01, 52.005, 5.02, 52.0))])
    key = ApiKeys(road.client, road.namespace).issue("desk", "viewer")
    code, body, kind = get(f"{http_central.http_url}/datex2/v3/travel-times.xml", key)
    assert code == 200 and kind == "application/xml"
    schema = etree.XMLSchema(etree.parse(str(SCHEMAS / "DATEXII_3_D2Payload.xsd")))
    doc = etree.fromstring(body)
    assert schema.validate(doc), schema.error_log
    codes = doc.xpath("//loc:externalLocationCode/text()", namespaces=DATEX_NS)
    assert sorted(codes) == (["link/a/b", "link/b/c"] if with_data else ["link/a/b"])
    normal = doc.xpath("//roa:normallyExpectedTravelTime/roa:duration/text()",
                       namespaces=DATEX_NS)
    assert normal == (["65.0"] if with_data else [])
    faults = doc.xpath("//roa:physicalQuantityFaultType/text()", namespaces=DATEX_NS)
    assert faults == ["noDataValuesAvailable"] * len(codes)  # newest windows: none, or empty
    if not with_data:  # the line follows the road: latitude longitude, three points
        assert doc.xpath("//loc:posList/text()", namespaces=DATEX_NS) == [
            "52.000000 5.000000 52.005000 5.010000 52.000000 5.020000"]


def test_open_data_serves_aggregates_without_a_key_but_not_detector_health(
    start_test_central: Callable[..., RunningCentral], road: Road,
) -> None:
    central = start_test_central(http=True, http_open_data=True)
    corridor(road)
    code, body, kind = get(f"{central.http_url}/api/v1/network.geojson")
    assert code == 200 and kind == "application/geo+json"
    features = {f["id"]: f for f in json.loads(body)["features"]}
    assert features["detector/a"]["geometry"] == {"type": "Point", "coordinates": [5.0, 52.0]}
    assert "health" not in features["detector/a"]["properties"]  # anonymous: no health
    assert features["link/a/b"]["geometry"]["coordinates"] == [[5.0, 52.0], [5.0, 52.01]]
    assert get(f"{central.http_url}/api/v1/travel-times")[0] == 200
    assert get(f"{central.http_url}/api/v1/detectors/health")[0] == 401
    paths = json.loads(get(f"{central.http_url}/openapi.json")[1])["paths"]
    assert {"/api/v1/travel-times", "/api/v1/network.geojson", "/api/v1/detectors/health",
            "/datex2/v3/travel-times.xml"} <= set(paths)


def test_detector_health_names_silent_and_never_reported_boxes(
    http_central: RunningCentral, road: Road,
) -> None:
    corridor(road)
    now = time.time_ns()
    for det, age_s in (("a", 10), ("b", 3600)):
        status = types_pb2.AgentStatus(detector_id=det, reported_ns=now - age_s * S,
                                       buffer_depth=7, last_upload_ns=now - age_s * S,
                                       clock_sync=types_pb2.CLOCK_SYNC_UNSYNCED)
        road.store.put_status(det, wire.status_to_dict(status), status.reported_ns)
    key = ApiKeys(road.client, road.namespace).issue("ops", "viewer")
    code, body, _ = get(f"{http_central.http_url}/api/v1/detectors/health", key)
    assert code == 200
    health = {d["id"]: d for d in json.loads(body)["detectors"]}
    assert [health[d]["state"] for d in "abc"] == ["ok", "silent", "never_reported"]
    assert health["a"]["buffer_depth"] == 7 and health["a"]["clock_unsynchronised"] is True
    assert health["c"]["last_status"] is None


def test_https_with_central_s_certificate_and_the_apikey_cli(
    start_test_central: Callable[..., RunningCentral], site: Site, road: Road,
    capsys: pytest.CaptureFixture[str],
) -> None:
    central = start_test_central(insecure=False, pki_dir=site.pki_dir, http=True)
    assert central.http_url.startswith("https://127.0.0.1:")
    etcd = ["--etcd-endpoints", *central.etcd_endpoints, "--namespace", road.namespace]
    assert main(["apikey", "issue", "city-desk", "--role", "viewer", *etcd]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("rsk1.")
    context = ssl.create_default_context(cafile=str(site.ca_file))  # verifies central
    code, _, _ = get(f"{central.http_url}/api/v1/travel-times", key, context)
    assert code == 200
    assert main(["apikey", "list", *etcd, "--format", "json"]) == 0
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (row["name"], row["role"], row["revoked_ns"]) == ("city-desk", "viewer", 0)
    assert key not in json.dumps(row)  # only its hash is kept
    assert main(["apikey", "revoke", "city-desk", *etcd]) == 0
    wait_until(lambda: get(f"{central.http_url}/api/v1/travel-times", key, context)[0] == 401,
               10, "the revoked key to be refused")


def test_central_http_serves_the_feeds_on_its_own(
    road: Road, etcd_server: EtcdProcess, tmp_path: Path,
) -> None:
    corridor(road)
    key = ApiKeys(road.client, road.namespace).issue("desk", "viewer")
    log = tmp_path / "http.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "roadside.common.main", "central", "http", "--insecure",
             "--host", "127.0.0.1", "--http-port", "0", "--etcd-endpoints",
             etcd_server.endpoint, "--namespace", road.namespace], stderr=out)
    try:
        found: list[str] = []

        def serving() -> bool:
            found[:] = re.findall(r"HTTP feeds on (http://\S+) ", log.read_text())
            return bool(found) or proc.poll() is not None

        wait_until(serving, 30, "central http to serve")
        assert found, log.read_text()
        code, body, _ = get(f"{found[0]}/api/v1/travel-times", key)
        assert code == 200 and {e["id"] for e in json.loads(body)["entries"]} == {
            "link/a/b", "link/b/c"}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)


def test_datex_ii_of_a_suppressed_current_window_validates(
    http_central: RunningCentral, road: Road,
) -> None:
    for i, det in enumerate("ab"):
        road.store.register_detector(DetectorRecord(det, det, 52.0 + i / 100, 5.0))
    road.link("a", "b", max_seconds=900)
    t0 = (int(time.time()) - 1200) // W * W
    road.trips("a", "b", (t0 + 10) * S, [61.0, 62.0])  # two devices: suppressed
    [link] = store.all_targets(road.client, road.namespace, 1800)
    done = engine.compute_windows(road.client, road.namespace, link, [t0], W, stats.Rules())
    store.write_windows(road.client, road.namespace, [(link, w) for w in done])
    key = ApiKeys(road.client, road.namespace).issue("desk", "viewer")
    _code, body, _ = get(f"{http_central.http_url}/datex2/v3/travel-times.xml", key)
    schema = etree.XMLSchema(etree.parse(str(SCHEMAS / "DATEXII_3_D2Payload.xsd")))
    doc = etree.fromstring(body)
    assert schema.validate(doc), schema.error_log
    assert doc.xpath("//roa:travelTime", namespaces=DATEX_NS) == []  # no figure at all
    assert "fewer than k" in "".join(doc.xpath("//*[local-name()='value']/text()"))


def test_https_takes_operator_certificates_of_the_site_and_refuses_revoked_and_boxes(
    start_test_central: Callable[..., RunningCentral], site: Site, road: Road,
) -> None:
    central = start_test_central(insecure=False, pki_dir=site.pki_dir, http=True)
    url = f"{central.http_url}/api/v1/detectors/health"

    def as_(who: Identity) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(site.ca_file))
        cert, key = site.files(who)
        context.load_cert_chain(str(cert), str(key))
        return context

    assert get(url, context=as_(VIEWER))[0] == 200  # no key needed: the certificate says
    code, body, _ = get(url, context=as_(DETECTOR_A))
    assert code == 403 and b"operators" in body
    assert get(url, context=ssl.create_default_context(cafile=str(site.ca_file)))[0] == 401
    cert, _key = site.files(VIEWER)
    registry = PkiRegistry(road.client, road.namespace)  # as `roadside pki revoke vera`
    registry.record(x509.load_pem_x509_certificate(cert.read_bytes()))
    registry.revoke(VIEWER.name)
    wait_until(lambda: get(url, context=as_(VIEWER))[0] == 401, 10,
               "the revoked certificate to be refused")


def test_datex_ii_of_a_window_with_figures_validates() -> None:
    """A current window with figures: travelTime with its inputs, deviation and quality."""
    current = {"state": "ok", "window_start": "2026-12-01T10:00:00Z",
               "window_end": "2026-12-01T10:05:00Z", "travel_time_s": 123.0, "samples": 12,
               "stddev_s": 8.5, "quality": 0.92}
    entry = {"id": "link/a/b", "detectors": ["a", "b"], "current": current, "trend": "stable",
             "free_flow_s": 110.0, "normal_s": 118.0, "delay_s": 5.0}
    doc = etree.fromstring(publication([entry], {"a": (52.1, 5.1), "b": (52.2, 5.2)}))
    schema = etree.XMLSchema(etree.parse(str(SCHEMAS / "DATEXII_3_D2Payload.xsd")))
    assert schema.validate(doc), schema.error_log
    [travel] = doc.xpath("//roa:travelTime", namespaces=DATEX_NS)
    assert travel.get("numberOfInputValuesUsed") == "12"
    assert travel.get("supplierCalculatedDataQuality") == "92.0"
    assert travel.get("computationalMethod") == "medianOfSamplesInATimePeriod"
    assert doc.xpath("//roa:travelTimeTrendType/text()", namespaces=DATEX_NS) == ["stable"]
