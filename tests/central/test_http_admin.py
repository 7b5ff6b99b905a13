"""The desk's edits over HTTP: admin only (every endpoint with every role), validated like
the CLI's, audited under the key's name, and seen in the feeds."""

from __future__ import annotations

import json
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from roadside.central.api.server import RunningCentral
from roadside.central.http.apikeys import ApiKeys
from roadside.central.http.feed_bodies import FRESH_S
from roadside.central.store.records import DetectorRecord
from tests.fixtures.polling import wait_until
from tests.fixtures.traveltime import Road
from tests.fixtures.trust import Site

pytestmark = pytest.mark.wheel  # also run against the installed wheel

CALL_S = 20
ROAD = [[5.0, 52.0], [5.004, 52.003], [5.0, 52.01]]  # a -> b along a bend


@pytest.fixture
def http_central(start_test_central: Callable[..., RunningCentral]) -> RunningCentral:
    return start_test_central(http=True)


@pytest.fixture
def call(http_central: RunningCentral, site: Site) -> Callable[..., tuple[int, Any]]:
    context = ssl.create_default_context(cafile=str(site.ca_file))

    def do(method: str, path: str, key: str | None, body: object = None) -> tuple[int, Any]:
        request = urllib.request.Request(
            http_central.http_url + path, method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json",
                     **({"Authorization": f"Bearer {key}"} if key else {})})
        try:
            with urllib.request.urlopen(request, timeout=CALL_S, context=context) as reply:
                return reply.status, json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())
    return do


def a_b_c(road: Road) -> None:
    for i, det in enumerate("abc"):
        road.store.register_detector(DetectorRecord(det, f"Gate {det}", 52.0 + i / 100, 5.0))
    road.store.register_detector(DetectorRecord("orphan", "Unplaced box"))
    road.link("a", "b", max_seconds=900, length_m=1000.0)
    road.link("b", "c", max_seconds=900)


EDITS = [  # (method, path, body) of every edit the desk makes
    ("PUT", "/api/v1/links/a/b", {"max_seconds": 600, "length_m": 1200, "geometry": ROAD}),
    ("DELETE", "/api/v1/links/b/c", None),
    ("PUT", "/api/v1/routes/upper", {"detector_ids": ["a", "b"]}),
    ("PUT", "/api/v1/detectors/orphan/place", {"latitude": 52.02, "longitude": 5.01}),
]


def test_only_an_admin_edits_and_every_edit_is_audited_under_the_key_name(
    road: Road, call: Callable[..., tuple[int, Any]],
) -> None:
    a_b_c(road)
    keys = ApiKeys(road.client, road.namespace)
    before = (road.store.links(), road.store.routes(), road.store.list_detectors())
    for role in ("viewer", "analyst"):
        key = keys.issue(f"desk-{role}", role)
        for method, path, body in [*EDITS, ("GET", "/api/v1/audit", None)]:
            code, reply = call(method, path, key, body)
            assert code == 403 and "needs role admin" in reply["detail"], (role, path)
        assert call("GET", "/api/v1/links", key)[0] == 200  # reading them is any key's
    for method, path, body in EDITS:
        assert call(method, path, None, body)[0] == 401
    assert (road.store.links(), road.store.routes(), road.store.list_detectors()) == before
    assert road.store.audit() == []  # nothing refused was written, nor audited
    admin = keys.issue("ops-anna", "admin")
    for method, path, body in EDITS:
        code, reply = call(method, path, admin, body)
        assert code == 200, (path, reply)
    [ab] = road.store.links("b")
    assert (ab.max_seconds, ab.length_m, ab.line()) == (600, 1200.0, ROAD)
    assert road.store.links("c") == []
    assert [r.detector_ids for r in road.store.routes()] == [("a", "b")]
    orphan = road.store.get_detector("orphan")
    assert orphan is not None and (orphan.latitude, orphan.longitude, orphan.name) == (
        52.02, 5.01, "Unplaced box")
    code, reply = call("GET", "/api/v1/audit", admin)
    entries = reply["entries"]
    assert code == 200 and [e["who"] for e in entries] == ["apikey:ops-anna"] * 4
    assert "links into b: a set (3 road points)" in entries[-1]["what"]  # newest first
    assert entries[0]["what"] == "registry orphan: 52.020000, 5.010000"
    code, listed = call("GET", "/api/v1/links", admin)
    assert listed["links"][0]["geometry"] == ROAD and listed["routes"] == [
        {"name": "upper", "detector_ids": ["a", "b"]}]


def test_bad_edits_name_the_field_and_change_nothing(
    road: Road, call: Callable[..., tuple[int, Any]], http_central: RunningCentral,
) -> None:
    a_b_c(road)
    admin = ApiKeys(road.client, road.namespace).issue("ops", "admin")
    road.route("upper", "a", "b", "c")
    before = road.store.links()
    for path, body, status, says in [
        ("/api/v1/links/a/b", {"max_seconds": 600, "geometry": [[5.0, 52.0], [5.0, 95.0]]},
         422, "geometry[3] (latitude)"),
        ("/api/v1/links/a/b", {"max_seconds": 600, "geometry": [[5.0, 52.0, 1.0]]}, 422,
         "geometry"),
        ("/api/v1/links/a/b", {"max_seconds": -5}, 422, "max_seconds"),
        ("/api/v1/links/a/b", {"length_m": 5}, 422, "max_seconds"),  # missing
        ("/api/v1/links/nobody/b", {"max_seconds": 600}, 404, "unknown detector 'nobody'"),
        ("/api/v1/routes/lower", {"detector_ids": ["c", "a"]}, 422,
         "route.detector_ids[1]: no link c -> a"),
        ("/api/v1/detectors/orphan/place", {"latitude": 91, "longitude": 5}, 422,
         "detector.latitude"),
        ("/api/v1/detectors/nobody/place", {"latitude": 1, "longitude": 5}, 404, "nobody"),
    ]:
        code, reply = call("PUT", path, admin, body)
        assert code == status and says in json.dumps(reply["detail"]), (path, reply)
    code, reply = call("DELETE", "/api/v1/links/b/c", admin)  # the route uses it
    assert code == 422 and "route upper uses the link b -> c" in reply["detail"]
    code, reply = call("DELETE", "/api/v1/links/a/c", admin)
    assert code == 404 and reply["detail"] == "no link a -> c"
    assert road.store.links() == before and road.store.audit() == []


def test_an_edited_road_is_in_the_network_feed(
    road: Road, call: Callable[..., tuple[int, Any]],
) -> None:
    a_b_c(road)
    admin = ApiKeys(road.client, road.namespace).issue("ops", "admin")

    def drawn() -> list[list[float]]:
        network = call("GET", "/api/v1/network.geojson", admin)[1]
        return next(f["geometry"]["coordinates"] for f in network["features"]
                    if f["id"] == "link/a/b")
    assert drawn() == [[5.0, 52.0], [5.0, 52.01]]  # straight between its detectors
    assert call("PUT", "/api/v1/links/a/b", admin, {"max_seconds": 900, "geometry": ROAD})[0] == 200
    wait_until(lambda: drawn() == ROAD, within_s=FRESH_S + CALL_S, what="the road in the feed")


def test_admins_editing_links_into_one_detector_at_once_keep_every_edit(
    road: Road, call: Callable[..., tuple[int, Any]],
) -> None:
    sources = [f"s{i}" for i in range(8)]
    for det in [*sources, "d"]:
        road.store.register_detector(DetectorRecord(det, f"Gate {det}", 52.0, 5.0))
    admin = ApiKeys(road.client, road.namespace).issue("ops", "admin")
    start = threading.Barrier(len(sources))

    def put(src: str) -> int:
        start.wait()  # all at once: each reads and writes while the others do
        return call("PUT", f"/api/v1/links/{src}/d", admin, {"max_seconds": 600})[0]

    with ThreadPoolExecutor(len(sources)) as pool:
        assert list(pool.map(put, sources)) == [200] * len(sources)
    assert sorted(link.src for link in road.store.links("d")) == sources
