"""The dashboard in a real browser (Debian's chromium, driven by selenium) against a real
central on loopback with the simulator's example corridor: no JavaScript errors, every
detector and link on the map, a congested link coloured so, a link's chart with points, and
a box that stops reporting shown silent; map tiles only from the configured tile server."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import shutil
import struct
import threading
import time
import zlib
import zoneinfo
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from roadside.central.api import wire
from roadside.central.api.server import RunningCentral
from roadside.central.http.apikeys import ApiKeys
from roadside.central.store import keys as store_keys
from roadside.central.store.records import DetectorRecord, LinkRecord
from roadside.central.traveltime import engine, profiles, stats, store
from roadside.proto.v1 import types_pb2
from roadside.sim.network import load_network
from tests.fixtures.traveltime import Road, S

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = [pytest.mark.wheel,  # also run against the installed wheel (its static files)
              pytest.mark.skipif(CHROMEDRIVER is None or shutil.which("chromium") is None,
                                 reason="needs Debian's chromium and chromium-driver")]
W = 300
WAIT_S = 30
# where the docs' screenshot comes from: `make screenshots` (DASHBOARD_SCREENSHOT=FILE)
SCREENSHOT = os.environ.get("DASHBOARD_SCREENSHOT")


@pytest.fixture
def browser() -> Iterator[object]:
    options = webdriver.ChromeOptions()
    # central's certificate is of the test's own site CA, which the browser does not know
    for flag in ("--headless=new", "--no-sandbox", "--window-size=1400,1000",
                 "--ignore-certificate-errors"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver: object, section: str, suffix: str) -> None:
    """With `make screenshots`: the page scrolled to a section, beside the main screenshot."""
    if SCREENSHOT:
        driver.execute_script(  # type: ignore[attr-defined]
            "document.getElementById(arguments[0]).scrollIntoView()", section)
        driver.save_screenshot(SCREENSHOT.replace(".png", suffix + ".png"))  # type: ignore[attr-defined]


def network(road: Road) -> None:
    """The simulator's example corridor: its first link free-flowing for two hours and
    congested now, its second free-flowing, its third without data."""
    corridor = load_network()
    for d in corridor.detectors:
        road.store.register_detector(DetectorRecord(d.id, d.name, d.latitude, d.longitude))
    for link in corridor.links:  # the first two along their roads, the third straight
        road.store.set_links(link.dest, [LinkRecord(link.src, link.dest, link.max_seconds,
                                                    link.length_m, geometry=link.road
                                                    if link.dest != "south-junction" else ())])
    now_w = (int(time.time()) - W) // W * W
    starts = [now_w - n * W for n in range(24, 0, -1)] + [now_w]
    for i, link in enumerate(corridor.links[:2]):
        free_s = link.length_m / 58 * 3.6  # about 96 and 118 s
        for n, ws in enumerate(starts):
            travel = free_s * (2.2 if ws == now_w and i == 0 else 1.0)
            road.trips(link.src, link.dest, int((ws + 250 - travel) * S),
                       [travel + k % 3 for k in range(8)], first_device=i * 10_000 + n * 100,
                       spacing_s=2)
        target = next(t for t in store.all_targets(road.client, road.namespace, 1800)
                      if (t.src, t.dest, t.route) == (link.src, link.dest, ""))
        done = engine.compute_windows(road.client, road.namespace, target, starts, W,
                                      stats.Rules())
        store.write_windows(road.client, road.namespace, [(target, w) for w in done])
        profiles.write(road.client, road.namespace, target, profiles.Profile(
            (free_s + 1,) * profiles.BINS, free_s, 4, 0.0, time.time_ns()))


def report(road: Road, detector_id: str) -> None:
    status = types_pb2.AgentStatus(detector_id=detector_id, reported_ns=time.time_ns(),
                                   buffer_depth=3, clock_sync=types_pb2.CLOCK_SYNC_SYNCED)
    road.store.put_status(detector_id, wire.status_to_dict(status), status.reported_ns)


def test_the_dashboard_shows_the_network_a_congested_link_a_chart_and_a_silent_box(
    start_test_central: Callable[..., RunningCentral], road: Road, browser: object,
) -> None:
    central = start_test_central(http=True, allowed_silence_s=4.0,
                                 http_time_zone="Asia/Kolkata")  # UTC+5:30: no whole hours
    network(road)
    road.route("upper", "north-gate", "mill-bridge", "market-square")  # over two links
    # a box registered by its first upload has no place: listed apart, never drawn at 0, 0
    road.store.register_detector(DetectorRecord("orphan-box", "", 0.0, 0.0))
    # the workers judge the second link Bad (its delay alone says free flow): the map agrees
    second_link = "link/mill-bridge/market-square"
    road.client.put(store_keys.alert_key(road.namespace, second_link), json.dumps(
        {"subject": second_link, "level": "bad", "previous": "ok",
         "reason": "travel time 1.8 x normal for 10 min",
         "value": 0, "at_ns": time.time_ns(), "since_ns": time.time_ns()}))
    report(road, "north-gate")
    report(road, "mill-bridge")
    key = ApiKeys(road.client, road.namespace).issue("desk", "viewer")
    driver = browser
    driver.get(f"{central.http_url}/dashboard/?refresh=1#key={key}")  # type: ignore[attr-defined]
    # the page redraws every second: read it in one script (no element goes stale meanwhile)
    wait = WebDriverWait(driver, WAIT_S, ignored_exceptions=(StaleElementReferenceException,))

    def classes(css: str) -> dict[str, str]:
        return driver.execute_script(  # type: ignore[attr-defined,no-any-return]
            "return Object.fromEntries([...document.querySelectorAll(arguments[0])]"
            ".map(e => [e.getAttribute('data-id'), e.getAttribute('class')]))", css)

    def count(css: str) -> int:
        return int(driver.execute_script(  # type: ignore[attr-defined]
            "return document.querySelectorAll(arguments[0]).length", css))

    def click_road(link: str) -> bool:
        """Click a link's line where it runs (its middle, not the middle of a bent road's
        box, which may be off the road)."""
        line = driver.find_element(  # type: ignore[attr-defined]
            By.CSS_SELECTOR, f'#map path.link[data-id="{link}"]')
        dx, dy = driver.execute_script(  # type: ignore[attr-defined]
            "const e = arguments[0], p = e.getPointAtLength(e.getTotalLength() / 2),"
            " b = e.getBBox(); return [p.x - (b.x + b.width / 2), p.y - (b.y + b.height / 2)]",
            line)
        ActionChains(driver).move_to_element_with_offset(  # type: ignore[arg-type]
            line, int(dx), int(dy)).click().perform()
        return True

    wait.until(lambda _d: len(classes("#map .detector")) == 4)
    assert set(classes("#map .detector")) == {"north-gate", "mill-bridge", "market-square",
                                              "south-junction"}
    links = classes("#map .link:not(.route)")
    first, second, third = ("link/north-gate/mill-bridge", "link/mill-bridge/market-square",
                            "link/market-square/south-junction")
    assert set(links) == {first, second, third}
    assert "congested" in links[first] and "congested" in links[second]
    assert "none" in links[third]
    # its current window heard two devices: suppressed (under k), drawn apart from no data
    target = next(t for t in store.all_targets(road.client, road.namespace, 1800)
                  if t.dest == "south-junction")
    now_w = (int(time.time()) - W) // W * W
    road.trips("market-square", "south-junction", (now_w + 10) * S, [150.0, 152.0],
               first_device=90_000)
    store.write_windows(road.client, road.namespace, [(target, w) for w in engine.compute_windows(
        road.client, road.namespace, target, [now_w], W, stats.Rules())])
    wait.until(lambda _d: "suppressed" in classes("#map .link:not(.route)")[third])
    assert "orphan-box" in driver.find_element(By.ID, "unplaced").text  # type: ignore[attr-defined]
    # routes lie under the links (a link stays clickable) and hide with their layer; each
    # link says its current figure, travel time or speed as the operator picks
    assert set(classes("#map .route")) == {"route/upper"}
    # links along their roads (four points each), the route along its links' (seven), the
    # third link straight; the GeoJSON feed carries the same lines
    corners = driver.execute_script(  # type: ignore[attr-defined]
        "return Object.fromEntries([...document.querySelectorAll('#map .link')].map("
        "e => [e.getAttribute('data-id'), (e.getAttribute('d').match(/[LM]/g) || []).length]))")
    assert (corners[first], corners[second], corners[third], corners["route/upper"]) == (
        4, 4, 2, 7), corners
    feed = driver.execute_script("return state.network")  # type: ignore[attr-defined]
    lines = {f["id"]: f["geometry"]["coordinates"] for f in feed["features"]
             if f["geometry"]["type"] == "LineString"}
    assert lines[first][1] == [13.4036, 52.5158] and len(lines["route/upper"]) == 7
    labels = classes("#map .figure")
    assert first in labels and second in labels

    def label(link: str) -> str:
        return str(driver.execute_script(  # type: ignore[attr-defined]
            "return document.querySelector(`#map .figure[data-id='${arguments[0]}']`)"
            ".textContent", link))
    assert re.fullmatch(r"\d+\.\d min", label(second)), label(second)
    driver.execute_script(  # type: ignore[attr-defined]
        "const s = document.getElementById('figure'); s.value = 'speed';"
        "s.dispatchEvent(new Event('change'))")
    wait.until(lambda _d: label(second).endswith(" km/h"))
    driver.find_element(By.ID, "showroutes").click()  # type: ignore[attr-defined]
    wait.until(lambda _d: count("#map .route") == 0)
    driver.find_element(By.ID, "showroutes").click()  # type: ignore[attr-defined]
    driver.execute_script(  # type: ignore[attr-defined]
        "const s = document.getElementById('figure'); s.value = 'travel';"
        "s.dispatchEvent(new Event('change'))")
    def points(series: int = 1) -> int:
        """The chart's (uPlot's) figures in one series: 1 the median, 4 the normal, 5 free
        flow, 6 samples per window."""
        return int(driver.execute_script(  # type: ignore[attr-defined]
            "const p = chartView.plot; return p ? p.data[arguments[0]]"
            ".filter(v => v !== null && v !== undefined).length : 0", series))

    wait.until(lambda _d: click_road(first))
    # today's windows (at least the last hour's), each a point on the median line
    wait.until(lambda _d: points() >= 10)
    # its reliability over 30 days, from the reports' endpoint: all days, then weekdays
    wait.until(lambda _d: count("#reliability tbody tr[data-group]") >= 2)
    rows = driver.execute_script(  # type: ignore[attr-defined]
        "return [...document.querySelectorAll('#reliability tbody tr')]"
        ".map(r => [...r.cells].map(c => c.textContent))")
    assert rows[0][0] == "all days" and int(rows[0][1]) >= 10, rows
    assert float(rows[0][5]) >= 1.0 and float(rows[0][6]) >= 1.0, rows  # not under free flow
    assert points(6) == points()  # samples per window
    # a window's figures on hover: the chart library's legend follows the cursor
    hover = driver.execute_script(  # type: ignore[attr-defined]
        "const p = chartView.plot, i = p.data[1].findIndex(v => v !== null);"
        "p.setCursor({left: p.valToPos(p.data[0][i], 'x'), top: 20});"
        "return [...document.querySelectorAll('#chart .u-legend .u-series')]"
        ".map(r => r.textContent)")
    assert re.fullmatch(r"window\d\d:\d\d\u2013\d\d:\d\d", hover[0]), hover
    assert re.fullmatch(r"median\d+\.\d min", hover[1]) and hover[6] == "samples8", hover
    assert points(4) == points(5) == len(driver.execute_script(  # type: ignore[attr-defined]
        "return chartView.plot.data[0]")) > 0  # the normal and free flow all along
    # the speed view: km/h over the link's length, said on the axis and in the title
    driver.find_element(By.ID, "speed").click()  # type: ignore[attr-defined]
    axis = driver.execute_script("return chartView.values")  # type: ignore[attr-defined]
    assert axis and all(a.endswith(" km/h") for a in axis), axis
    assert ": speed " in driver.find_element(By.ID, "charttitle").text  # type: ignore[attr-defined]
    driver.find_element(By.ID, "speed").click()  # type: ignore[attr-defined]
    # another day (a week ago, nothing stored): its own chart, said in the title
    driver.execute_script(  # type: ignore[attr-defined]
        "const d = document.getElementById('day'); d.value = arguments[0];"
        "d.dispatchEvent(new Event('change'))",
        (datetime.date.today() - datetime.timedelta(days=7)).isoformat())
    wait.until(lambda _d: points() == 0)
    assert " on " in driver.find_element(By.ID, "charttitle").text  # type: ignore[attr-defined]
    driver.execute_script(  # type: ignore[attr-defined]
        "const d = document.getElementById('day'); d.value = '';"
        "d.dispatchEvent(new Event('change'))")
    wait.until(lambda _d: points() >= 10)
    # the last 3 hours: the windows of those hours, said in the title
    driver.execute_script(  # type: ignore[attr-defined]
        "const s = document.getElementById('span'); s.value = '3';"
        "s.dispatchEvent(new Event('change'))")
    wait.until(lambda _d: "the last 3 h" in driver.find_element(  # type: ignore[attr-defined]
        By.ID, "charttitle").text)
    assert 10 <= points() <= 3 * 12 + 1
    driver.execute_script(  # type: ignore[attr-defined]
        "const s = document.getElementById('span'); s.value = '';"
        "s.dispatchEvent(new Event('change'))")
    # the map library from this package, no basemap configured: a plain background, no tile
    # asked of anyone, and a scale bar
    assert count("#map img.leaflet-tile") == 0 and count("#map .leaflet-control-scale") == 1
    assert driver.execute_script(  # type: ignore[attr-defined]
        "return [...document.scripts].map(s => new URL(s.src).pathname)") == [
        "/dashboard/vendor/leaflet/leaflet.js", "/dashboard/vendor/uplot/uPlot.iife.min.js",
        "/dashboard/app.js"]
    assert "north-gate -> mill-bridge" in driver.find_element(  # type: ignore[attr-defined]
        By.ID, "charttitle").text
    # a reports on, b has stopped: b turns silent once allowed_silence_s has passed

    def b_silent_a_not() -> bool:
        report(road, "north-gate")
        rows = classes("#health tbody tr")
        return rows.get("mill-bridge") == "silent" and rows.get("north-gate") == "ok"

    wait.until(lambda _d: b_silent_a_not())
    assert classes("#health tbody tr")["south-junction"] == "never_reported"
    wait.until(lambda _d: set(classes("#quality tbody tr")) == {first, second, third,
                                                                "route/upper"})
    cells = driver.execute_script(  # type: ignore[attr-defined]
        "return Object.fromEntries([...document.querySelectorAll('#health tbody tr')]"
        ".map(r => [r.dataset.id, [...r.cells].map(c => c.textContent)]))")
    assert cells["orphan-box"][7] == "not placed" and cells["north-gate"][4] == "3"
    # a placed detector's row shows it on the map: centred there, zoomed in
    driver.execute_script(  # type: ignore[attr-defined]
        "document.querySelector('#health tr[data-id=\"south-junction\"]').click()")
    wait.until(lambda _d: driver.execute_script(  # type: ignore[attr-defined]
        "const c = map.leaflet.getCenter(); return map.leaflet.getZoom() >= 16 &&"
        " Math.abs(c.lat - 52.4778) < 1e-4 && Math.abs(c.lng - 13.4120) < 1e-4"))
    assert re.fullmatch(r"-?\d+\.\d{4}, -?\d+\.\d{4}", cells["north-gate"][7])
    # the site's clock, 24-hour: the chart's hours are Kolkata's whole hours, the table's
    # times Kolkata's (at UTC's whole hours the labels would end in :30)
    hours = driver.execute_script(  # type: ignore[attr-defined]
        "return chartView.hours")
    assert hours and all(re.fullmatch(r"[012]\d:00", h) for h in hours), hours
    [latest] = road.store.statuses(["north-gate"])
    kolkata = datetime.datetime.fromtimestamp(int(latest["reported_ns"]) / 1e9,
                                              zoneinfo.ZoneInfo("Asia/Kolkata"))

    def last_status_shown() -> str:
        return str(driver.execute_script(  # type: ignore[attr-defined]
            "return document.querySelector('#health tr[data-id=\"north-gate\"] td:nth-child(4)')"
            ".textContent"))
    wait.until(lambda _d: last_status_shown() == kolkata.strftime("%H:%M:%S"))
    assert "Asia/Kolkata" in driver.find_element(By.ID, "updated").text  # type: ignore[attr-defined]
    # the map says what the table says (its feed is kept at most a second: the next poll)
    wait.until(lambda _d: "silent" in classes("#map .detector")["mill-bridge"])
    if SCREENSHOT:  # the whole corridor, from the top of the page
        driver.execute_script(  # type: ignore[attr-defined]
            "map.fitted = false; drawMap(); window.scrollTo(0, 0)")
        driver.save_screenshot(SCREENSHOT)  # type: ignore[attr-defined]
        shot(driver, "healthbox", "-detectors")
    severe = [e for e in driver.get_log("browser")  # type: ignore[attr-defined]
              if e["level"] == "SEVERE"]
    assert severe == [], severe


def _png() -> bytes:
    """A 1 x 1 grey PNG: what the test's tile server answers for every tile."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00\x80")) + chunk(b"IEND", b""))


@contextlib.contextmanager
def map_server(answer: Callable[[str, int], tuple[bytes, str]],
               ) -> Iterator[tuple[int, list[str]]]:
    """A tile or style server on loopback: each GET gets answer(path, port) (body, content
    type). Yields its port and the paths asked, in order."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            body, kind = answer(self.path, self.server.server_address[1])
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Access-Control-Allow-Origin", "*")  # the page is central's
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_port, asked
    finally:
        server.shutdown()
        server.server_close()


def no_errors(driver: object) -> None:
    severe = [e for e in driver.get_log("browser")  # type: ignore[attr-defined]
              if e["level"] == "SEVERE"]
    assert severe == [], severe


def test_map_tiles_come_from_the_configured_tile_server_only(
    start_test_central: Callable[..., RunningCentral], road: Road, browser: object,
) -> None:
    tile = _png()
    with map_server(lambda _path, _port: (tile, "image/png")) as (port, paths):
        template = f"http://127.0.0.1:{port}/tiles/{{z}}/{{x}}/{{y}}.png"
        central = start_test_central(http=True, http_map_tiles=template,
                                     http_map_attribution="tiles: the city")
        network(road)
        key = ApiKeys(road.client, road.namespace).issue("desk", "viewer")
        driver = browser
        driver.get(f"{central.http_url}/dashboard/?refresh=1#key={key}")  # type: ignore[attr-defined]
        WebDriverWait(driver, WAIT_S).until(lambda _d: len(paths) >= 1)
        assert all(re.fullmatch(r"/tiles/\d+/\d+/\d+\.png", p) for p in paths), paths
        assert len({p.split("/")[2] for p in paths}) == 1  # one zoom for the whole map
        assert "tiles: the city" in driver.find_element(  # type: ignore[attr-defined]
            By.ID, "attribution").text
        no_errors(driver)


def city_style(path: str, port: int) -> tuple[bytes, str]:
    """A MapLibre style with one vector source on the same server, and its (empty) tiles."""
    if path != "/style.json":
        return b"", "application/x-protobuf"  # an empty vector tile: nothing in this square
    return json.dumps({
        "version": 8, "name": "city",
        "sources": {"city": {"type": "vector", "maxzoom": 14, "tiles": [
            f"http://127.0.0.1:{port}/tiles/{{z}}/{{x}}/{{y}}.pbf"]}},
        "layers": [{"id": "land", "type": "background", "paint": {"background-color": "#e9e4d8"}},
                   {"id": "roads", "type": "line", "source": "city",
                    "source-layer": "transportation", "paint": {"line-color": "#fff"}}],
    }).encode(), "application/json"


def test_a_vector_basemap_comes_from_the_configured_style_and_its_servers_only(
    start_test_central: Callable[..., RunningCentral], road: Road, browser: object,
) -> None:
    """http_map_style: MapLibre GL (from the package's vendor/ files) draws the city's vector
    basemap under the network; the style's server is the only one asked."""
    with map_server(city_style) as (port, asked):
        central = start_test_central(http=True,
                                     http_map_style=f"http://127.0.0.1:{port}/style.json",
                                     http_map_attribution="basemap: the city")
        network(road)
        key = ApiKeys(road.client, road.namespace).issue("desk", "viewer")
        driver = browser
        driver.get(f"{central.http_url}/dashboard/?refresh=1#key={key}")  # type: ignore[attr-defined]
        wait = WebDriverWait(driver, WAIT_S)
        wait.until(lambda _d: any(p.startswith("/tiles/") for p in asked))
        assert asked[0] == "/style.json", asked
        assert all(re.fullmatch(r"/tiles/\d+/\d+/\d+\.pbf", p) for p in asked[1:]), asked
        wait.until(lambda _d: driver.execute_script(  # type: ignore[attr-defined]
            "return !!document.querySelector('#map canvas.maplibregl-canvas')"))
        # the network still on top of it; the page's scripts all from this package
        assert int(driver.execute_script(  # type: ignore[attr-defined]
            "return document.querySelectorAll('#map path.link').length")) >= 3
        scripts = driver.execute_script(  # type: ignore[attr-defined]
            "return [...document.scripts].map(s => new URL(s.src).pathname)")
        assert all(p.startswith("/dashboard/") for p in scripts) and (
            "/dashboard/vendor/maplibre-gl/maplibre-gl.js" in scripts), scripts
        assert "basemap: the city" in driver.find_element(  # type: ignore[attr-defined]
            By.ID, "attribution").text
        no_errors(driver)


def test_without_a_key_the_page_says_so_at_the_top(
    start_test_central: Callable[..., RunningCentral], road: Road, browser: object,
) -> None:
    central = start_test_central(http=True)
    network(road)
    driver = browser
    driver.get(f"{central.http_url}/dashboard/?refresh=1")  # type: ignore[attr-defined]
    error = driver.find_element(By.ID, "error")  # type: ignore[attr-defined]
    WebDriverWait(driver, WAIT_S).until(lambda _d: "401" in error.text)
    assert "API key" in error.text
    top = driver.find_element(By.ID, "mapbox").location["y"]  # type: ignore[attr-defined]
    assert error.location["y"] < top  # said before anything else, not under the tables
    assert "need an API key" in driver.find_element(  # type: ignore[attr-defined]
        By.ID, "alerts").text  # not "no alerts"


def test_an_admin_draws_a_road_and_places_a_box_and_a_viewer_cannot_edit(
    start_test_central: Callable[..., RunningCentral], road: Road, browser: object,
) -> None:
    central = start_test_central(http=True)
    network(road)
    road.store.register_detector(DetectorRecord("orphan-box", "Unplaced box", 0.0, 0.0))
    keys = ApiKeys(road.client, road.namespace)
    viewer, admin = keys.issue("desk", "viewer"), keys.issue("ops-anna", "admin")
    driver = browser
    wait = WebDriverWait(driver, WAIT_S, ignored_exceptions=(StaleElementReferenceException,))

    def count(css: str) -> int:
        return int(driver.execute_script(  # type: ignore[attr-defined]
            "return document.querySelectorAll(arguments[0]).length", css))

    def corners(link: str) -> int:
        return int(driver.execute_script(  # type: ignore[attr-defined]
            "const e = document.querySelector(`#map path.link[data-id='${arguments[0]}']`);"
            "return e ? (e.getAttribute('d').match(/[LM]/g) || []).length : 0", link))

    # a viewer: no forms, and the server refuses the edit the page would send
    driver.get(f"{central.http_url}/dashboard/?refresh=2#key={viewer}")  # type: ignore[attr-defined]
    wait.until(lambda _d: count("#health tbody tr") == 5)
    assert not driver.find_element(By.ID, "editbox").is_displayed()  # type: ignore[attr-defined]
    refused = driver.execute_async_script(  # type: ignore[attr-defined]
        "const done = arguments[1]; send('PUT', '/api/v1/links/mill-bridge/north-gate',"
        " {max_seconds: 600}).then(() => done('saved'), e => done(e.message))", viewer)
    assert refused.startswith("403 editing needs role admin"), refused
    # an admin: picks the straight link, draws its road with three clicks, saves
    driver.get(f"{central.http_url}/dashboard/?refresh=2#key={admin}")  # type: ignore[attr-defined]
    wait.until(lambda _d: driver.find_element(By.ID, "editbox").is_displayed())  # type: ignore[attr-defined]
    third = "link/market-square/south-junction"
    wait.until(lambda _d: corners(third) == 2)
    driver.execute_script(  # type: ignore[attr-defined]
        "document.querySelector(`#map path.link[data-id='${arguments[0]}']`)"
        ".dispatchEvent(new MouseEvent('click', {bubbles: true, clientX: 1, clientY: 1}))",
        third)
    wait.until(lambda _d: driver.find_element(By.ID, "esrc").get_attribute("value")  # type: ignore[attr-defined]
               == "market-square")
    assert driver.find_element(By.ID, "emax").get_attribute("value") != ""  # type: ignore[attr-defined]
    area = driver.find_element(By.ID, "map")  # type: ignore[attr-defined]
    driver.find_element(By.ID, "draw").click()  # type: ignore[attr-defined]
    for dx, dy in ((-200, 150), (-40, 190), (120, 150)):  # on the map, away from the corridor
        ActionChains(driver).move_to_element_with_offset(area, dx, dy).click().perform()  # type: ignore[arg-type]
    assert len(driver.find_element(By.ID, "egeometry").get_attribute(  # type: ignore[attr-defined]
        "value").splitlines()) == 3
    shot(driver, "editbox", "-edit")
    driver.find_element(By.CSS_SELECTOR, "#linkform button[type=submit]").click()  # type: ignore[attr-defined]
    wait.until(lambda _d: "saved: link market-square -> south-junction" in driver.find_element(  # type: ignore[attr-defined]
        By.ID, "editstatus").text)
    [link] = road.store.links("south-junction")
    assert len(link.line() or []) == 3
    wait.until(lambda _d: corners(third) == 3)  # the map draws the new road
    # and places the box registered without a place: its row, a click on the map, save
    driver.execute_script(  # type: ignore[attr-defined]
        "document.querySelector('#health tr[data-id=\"orphan-box\"]').click()")
    driver.find_element(By.ID, "pick").click()  # type: ignore[attr-defined]
    ActionChains(driver).move_to_element_with_offset(area, 60, -150).click().perform()  # type: ignore[arg-type]
    assert driver.find_element(By.ID, "plat").get_attribute("value") != ""  # type: ignore[attr-defined]
    driver.find_element(By.CSS_SELECTOR, "#placeform button[type=submit]").click()  # type: ignore[attr-defined]
    wait.until(lambda _d: driver.execute_script(  # type: ignore[attr-defined]
        "return !!document.querySelector('#map .detector[data-id=\"orphan-box\"]')"))
    assert "orphan-box" not in driver.find_element(By.ID, "unplaced").text  # type: ignore[attr-defined]
    # both changes in the audit log, under the key's name, on the page and in etcd
    wait.until(lambda _d: "registry orphan-box" in driver.find_element(By.ID, "audit").text)  # type: ignore[attr-defined]
    shown = driver.find_element(By.ID, "audit").text  # type: ignore[attr-defined]
    assert "apikey:ops-anna: PUT /api/v1/links links into south-junction" in shown, shown
    assert [e["who"] for e in road.store.audit()] == ["apikey:ops-anna"] * 2
    severe = [e for e in driver.get_log("browser")  # type: ignore[attr-defined]
              if e["level"] == "SEVERE" and "403" not in e["message"]]
    assert severe == [], severe
