// roadside dashboard: the network map, a link's or route's chart and the detector table,
// from the HTTP feeds of the same server, refreshed every ?refresh= seconds (default 10).
"use strict";

const params = new URLSearchParams(location.search);
const REFRESH_S = Math.max(1, Number(params.get("refresh")) || 10);
const state = { key: "", selected: null, network: null, detail: null, settings: null };

// times on the page: 24-hour, in the site's time zone (settings.time_zone) or the browser's
function zone() { return (state.settings && state.settings.time_zone) || undefined; }
function timeOf(ms, withSeconds = true) {
  return new Intl.DateTimeFormat("en-GB", { timeZone: zone(), hour: "2-digit", minute: "2-digit",
    second: withSeconds ? "2-digit" : undefined, hourCycle: "h23" }).format(new Date(ms));
}
function day(ms) {
  return new Intl.DateTimeFormat("en-GB", { timeZone: zone(), weekday: "short", day: "numeric",
    month: "short" }).format(new Date(ms));
}

// the site's offset from UTC at `ms`, in ms (what its wall clock adds)
function offsetMs(ms) {
  const parts = new Intl.DateTimeFormat("en-US", { timeZone: zone(), hourCycle: "h23",
    year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric",
    second: "numeric" }).formatToParts(new Date(ms));
  const get = type => Number(parts.find(p => p.type === type).value);
  const wall = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour") % 24,
                        get("minute"), get("second"));
  return wall - Math.floor(ms / 1000) * 1000;
}

// the hours since the site's midnight: a chart shows today
function todayHours() {
  const now = Date.now(), local = now + offsetMs(now);
  return Math.min(48, Math.max(1, (local % 86_400_000) / 3.6e6));
}

async function loadDetail() {
  if (!state.selected) { state.detail = null; return; }
  const day = document.getElementById("day").value;  // YYYY-MM-DD on the site's clock, or ""
  const hours = Number(document.getElementById("span").value);  // the last N hours, or 0
  const path = "/api/v1/travel-times?id=" + encodeURIComponent(state.selected) +
    (hours ? "&hours=" + hours : day ? "&day=" + day : "&hours=" + todayHours().toFixed(2));
  state.detail = (await feed(path)).entries[0] || null;
}

function keyFromPage() {
  const match = /key=([^&]+)/.exec(location.hash);
  if (match) {
    sessionStorage.setItem("roadside-key", decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);  // not in history
  }
  state.key = sessionStorage.getItem("roadside-key") || "";
}

// a GET of one of the server's feeds; its error says which
async function feed(path) {
  try {
    return await send("GET", path);
  } catch (e) {
    throw new Error(path + ": " + e.message);
  }
}

// a link's colour (the network feed's line properties): its alert level where the workers
// evaluate one (so the map and the alert list agree), else its delay against free flow;
// suppressed (too few devices to publish) apart; without a figure, or with nothing to judge
// it by, it is grey, never green
function level(p) {
  if (p.alert === "bad") return "congested";
  if (p.alert === "warn") return "slow";
  if (p.state === "suppressed") return "suppressed";  // under k devices: no figure, by rule
  if (p.state !== "ok") return "none";
  if (p.alert === "ok") return "ok";
  if (!p.free_flow_s || p.delay_s === null) return "none";
  const ratio = p.delay_s / p.free_flow_s;
  return ratio > 0.6 ? "congested" : ratio > 0.25 ? "slow" : "ok";
}

// what a link's label says (the operator's choice): its current window's figure
function figureText(p) {
  const choice = document.getElementById("figure").value;
  if (choice === "travel" && p.travel_time_s !== null) return (p.travel_time_s / 60).toFixed(1) + " min";
  if (choice === "speed" && p.speed_kmh) return Math.round(p.speed_kmh) + " km/h";
  if (choice === "delay" && p.delay_s !== null && p.delay_s !== undefined) {
    return (p.delay_s >= 0 ? "+" : "") + (p.delay_s / 60).toFixed(1) + " min";
  }
  return "";
}

// a detector registered without a place (e.g. by its first upload) sits at 0, 0: not drawn
function placed(coordinates) {
  return !(coordinates[0] === 0 && coordinates[1] === 0);
}

// the map: Leaflet (served from this package's vendor/ files), no basemap unless the server
// names a tile source (then only that one is asked), a scale bar always
const map = { leaflet: null, layer: null, fitted: false };

function setUpMap() {
  const m = L.map("map", { zoomSnap: 0.25, attributionControl: false, zoomControl: true });
  L.control.scale({ imperial: false }).addTo(m);
  if (state.settings && state.settings.map_tiles) {
    L.tileLayer(state.settings.map_tiles, { maxZoom: 19, className: "tile" }).addTo(m);
  } else if (state.settings && state.settings.map_style) {
    vectorBasemap(m, state.settings.map_style).catch(e => {  // the plain background stays
      document.getElementById("attribution").textContent = "basemap unavailable: " + e.message;
    });
  }
  map.leaflet = m;
  map.layer = L.layerGroup().addTo(m);
  m.on("click", event => mapClicked(event.latlng));  // an admin drawing a road or placing
}

// a vector basemap (a MapLibre style): MapLibre GL and its Leaflet layer, from this package's
// vendor/ files, loaded only when a style is configured
function script(src) {
  return new Promise((resolve, reject) => {
    const tag = document.createElement("script");
    tag.src = src;
    tag.onload = resolve;
    tag.onerror = () => reject(new Error("cannot load " + src));
    document.head.appendChild(tag);
  });
}

async function vectorBasemap(m, style) {
  const css = document.createElement("link");
  css.rel = "stylesheet";
  css.href = "vendor/maplibre-gl/maplibre-gl.css";
  document.head.appendChild(css);
  await script("vendor/maplibre-gl/maplibre-gl.js");
  await script("vendor/maplibre-gl-leaflet/leaflet-maplibre-gl.js");
  const layer = L.maplibreGL({ style, interactive: false }).addTo(m);
  layer.getMaplibreMap().on("error", event => {
    document.getElementById("attribution").textContent = "basemap: " +
      ((event.error && event.error.message) || "unavailable");
  });
  map.basemap = layer;
}

// an element of a Leaflet layer, once on the map, marked with the feature's id
function mark(layer, id) {
  const element = layer.getElement();
  if (element) element.setAttribute("data-id", id);
}

function drawMap() {
  const features = state.network ? state.network.features : [];
  const detectors = features.filter(f => f.geometry.type === "Point");
  const away = detectors.filter(f => !placed(f.geometry.coordinates));
  document.getElementById("unplaced").textContent = away.length ?
    "not on the map (no coordinates): " + away.map(f => f.properties.id).join(", ") : "";
  const here = detectors.filter(f => placed(f.geometry.coordinates));
  if (!here.length) return;
  if (!map.leaflet) setUpMap();
  const latLng = ([lon, lat]) => [lat, lon];
  if (!map.fitted) {
    map.leaflet.fitBounds(here.map(f => latLng(f.geometry.coordinates)), { padding: [40, 40],
                                                                           animate: false });
    map.fitted = true;
  }
  map.layer.clearLayers();
  // routes under the links, wide and pale: each link and each route can be picked
  const lines = features.filter(f => f.geometry.type === "LineString");
  const shown = kind => document.getElementById(kind === "route" ? "showroutes" : "showlinks").checked;
  for (const f of [...lines.filter(f => f.properties.kind === "route"),
                   ...lines.filter(f => f.properties.kind !== "route")]) {
    if (!shown(f.properties.kind)) continue;
    const points = f.geometry.coordinates.filter(placed).map(latLng);
    if (points.length < 2) continue;
    const line = L.polyline(points, { className: (f.properties.kind === "route" ?
      "link route " : "link ") + level(f.properties) + (f.id === state.selected ? " selected" : ""),
      interactive: true, smoothFactor: 0 }).addTo(map.layer);  // every bend of the road
    mark(line, f.id);
    line.bindTooltip(f.properties.name, { sticky: true });
    line.on("click", async () => {
      if (edit.drawing || edit.picking) return;  // the map's click adds the point
      state.selected = f.id;
      await loadDetail().catch(e => { document.getElementById("error").textContent = e.message; });
      render();
      await loadReport().catch(e => { document.getElementById("error").textContent = e.message; });
      fillEdits();
    });
    const text = figureText(f.properties);
    if (text && f.properties.kind !== "route") {
      const middle = points[Math.floor(points.length / 2) - (points.length % 2 ? 0 : 1)];
      const end = points[Math.floor(points.length / 2)];
      const at = [(middle[0] + end[0]) / 2, (middle[1] + end[1]) / 2];
      const label = L.marker(at, { interactive: false, icon: L.divIcon({ className: "figure",
        html: "", iconSize: null }) }).addTo(map.layer);
      label.getElement().textContent = text;
      mark(label, f.id);
    }
  }
  for (const f of here) {
    const at = latLng(f.geometry.coordinates);
    const dot = L.circleMarker(at, { radius: 8,
      className: "detector " + (f.properties.health || "unknown") }).addTo(map.layer);
    mark(dot, f.properties.id);
    const label = L.marker(at, { interactive: false, icon: L.divIcon({ className: "label",
      html: "", iconSize: null, iconAnchor: [-12, 8] }) }).addTo(map.layer);
    label.getElement().textContent = f.properties.name || f.properties.id;
  }
}

// the chart: uPlot (served from vendor/uplot), the site's clock on its time axis; every window
// has its place on it, a gap where it has no figure; a window's figures on hover (the legend)
const chartView = { plot: null, hours: [], values: [] };
const HOUR_TICKS = [1, 2, 3, 6, 12, 24].map(h => h * 3600);  // the site's whole hours

function windowSpan(w) {
  return timeOf(w.window_start_ns / 1e6, false) + "\u2013" + timeOf(w.window_end_ns / 1e6, false);
}

function drawChart() {
  const box = document.getElementById("chart");
  if (chartView.plot) { chartView.plot.destroy(); chartView.plot = null; }
  box.replaceChildren();
  chartView.hours = []; chartView.values = [];
  const entry = state.detail;
  const title = document.getElementById("charttitle");
  if (!entry) { title.textContent = "Pick a link or route on the map"; return; }
  const hours = Number(document.getElementById("span").value);
  const chosen = hours ? "" : document.getElementById("day").value;
  // the speed view: km/h over the road's length (when known), else minutes
  const speed = document.getElementById("speed").checked && entry.length_m > 0;
  const v = s => s ? (speed ? entry.length_m / s * 3.6 : s / 60) : null;
  const unit = speed ? "km/h" : "min";
  title.textContent = entry.name + (speed ? ": speed " : ": travel time ") + (hours ?
    "the last " + hours + " h" : chosen ? "on " + day(Date.parse(chosen + "T12:00:00Z")) :
    "today, " + day(Date.now()));
  const rows = entry.recent;
  if (!rows.length) { box.textContent = "no windows in this period"; return; }
  const ok = w => w.state === "ok";
  const [slow, fast] = speed ? ["p90_s", "p10_s"] : ["p10_s", "p90_s"];  // the band's edges
  const data = [rows.map(w => (w.window_start_ns + w.window_end_ns) / 2e9),
    rows.map(w => ok(w) ? v(w.median_s) : null), rows.map(w => ok(w) ? v(w[slow]) : null),
    rows.map(w => ok(w) ? v(w[fast]) : null), rows.map(w => v(w.normal_s)),
    rows.map(() => v(entry.free_flow_s)), rows.map(w => ok(w) ? w.samples : null),
    rows.map(() => null)];
  const live = entry.live;  // the last minutes, provisional: a hollow point at its end
  if (live && live.state === "ok" && !chosen && live.window_end_ns / 1e9 > data[0].at(-1)) {
    data.forEach((series, i) => series.push(i === 0 ? live.window_end_ns / 1e9 :
                                            i === 7 ? v(live.median_s) : null));
    title.textContent += ", now " + (live.median_s / 60).toFixed(1) + " min (last " +
      Math.round((live.window_end_ns - live.window_start_ns) / 6e10) + " min, provisional)";
  }
  const figure = (u, x) => x === null || x === undefined ? "\u2013" : x.toFixed(1) + " " + unit;
  const line = (label, stroke, more) => ({ label, stroke, value: figure, points: { show: false },
                                           ...more });
  chartView.plot = new uPlot({
    width: Math.max(300, box.clientWidth), height: 300,
    tzDate: ts => zone() ? uPlot.tzDate(new Date(ts * 1e3), zone()) : new Date(ts * 1e3),
    scales: { x: { time: true }, y: { range: (u, lo, hi) => [0, Math.max(hi || 1, 1) * 1.1] },
              n: { range: (u, lo, hi) => [0, Math.max(hi || 1, 1) * 4] } },
    axes: [
      { values: (u, ticks) => (chartView.hours = ticks.map(t => timeOf(t * 1e3, false))),
        incrs: HOUR_TICKS, grid: { stroke: "#eee" } },
      { values: (u, ticks) => (chartView.values = ticks.map(t => t + " " + unit)), size: 70,
        grid: { stroke: "#eee" } },
      { scale: "n", side: 1, label: "samples", grid: { show: false } },
    ],
    series: [
      { label: "window", value: (u, x, s, i) => i === null ? "\u2013" :
        i < rows.length ? windowSpan(rows[i]) : "now" },
      line("median", "#1f4e9c", { width: 2, points: { show: true, size: 6, fill: "#1f4e9c" } }),
      line(speed ? "90 % (slow)" : "10 %", "rgba(122,166,224,.9)", { width: 1 }),
      line(speed ? "10 % (fast)" : "90 %", "rgba(122,166,224,.9)", { width: 1 }),
      line("normal", "#8e44ad", { dash: [2, 3], width: 1.6 }),
      line("free flow", "#2e8b57", { dash: [6, 4] }),
      { label: "samples", scale: "n", fill: "rgba(31,78,156,.18)", stroke: "rgba(31,78,156,.3)",
        paths: uPlot.paths.bars({ size: [0.8, 40] }), points: { show: false },
        value: (u, n) => n === null || n === undefined ? "\u2013" : String(n) },
      line("now (provisional)", "#1f5fa8", { paths: () => null,
        points: { show: true, size: 10, fill: "#fff", width: 2 } }),
    ],
    bands: [{ series: [3, 2], fill: "rgba(122,166,224,.35)" }],
  }, data, box);
}

window.addEventListener("resize", () => {
  const box = document.getElementById("chart");
  if (chartView.plot) chartView.plot.setSize({ width: Math.max(300, box.clientWidth), height: 300 });
});

function drawHealth(detectors) {
  const body = document.querySelector("#health tbody");
  body.replaceChildren();
  for (const d of detectors) {
    const row = document.createElement("tr");
    row.className = d.state;
    row.dataset.id = d.id;
    const clock = d.clock_unsynchronised === null ? "-" : d.clock_unsynchronised ? "unsynchronised" : "ok";
    const offset = d.clock_offset_s === null ? "" : " (" + (d.clock_offset_s >= 0 ? "+" : "") +
      d.clock_offset_s.toFixed(1) + " s)";
    const last = d.last_status_ns ? timeOf(d.last_status_ns / 1e6) : "never";
    const backlog = d.buffer_depth === null ? "-" : d.buffer_depth +
      (d.oldest_unsent_age_s ? " (oldest " + Math.round(d.oldest_unsent_age_s / 60) + " min)" : "");
    const place = placed([d.longitude, d.latitude]) ?
      d.latitude.toFixed(4) + ", " + d.longitude.toFixed(4) : "not placed";
    cells(row, [d.id, d.name, d.state.replace("_", " "), last, backlog, clock + offset,
                (d.radios || []).join(", ") || "-", place]);
    const here = placed([d.longitude, d.latitude]);
    if (here) row.dataset.placed = "yes";
    row.addEventListener("click", () => {
      if (!byId("editbox").hidden) {  // an admin: into the place form
        byId("pid").value = d.id;
        byId("plat").value = here ? d.latitude : ""; byId("plon").value = here ? d.longitude : "";
      }
      if (!here || !map.leaflet) return;  // its place on the map, a click away
      map.leaflet.setView([d.latitude, d.longitude], Math.max(map.leaflet.getZoom(), 16));
      document.getElementById("mapbox").scrollIntoView({ behavior: "smooth" });
    });
    body.appendChild(row);
  }
}

// a table row's cells, one for each text
function cells(row, texts) {
  for (const text of texts) {
    const cell = document.createElement("td");
    cell.textContent = text;
    row.appendChild(cell);
  }
}

// a list of items ([class, text, subject or nothing]) or, when there is none, a line saying so
function fillList(id, items, none) {
  const list = document.getElementById(id);
  list.replaceChildren();
  for (const [level, text, subject] of items) {
    const item = document.createElement("li");
    item.className = level;
    if (subject) item.dataset.subject = subject;
    item.textContent = text;
    list.appendChild(item);
  }
  if (!items.length) list.innerHTML = "<li class=\"none\">" + none + "</li>";
}

function drawHistory(changes) {
  fillList("alerthistory", changes.slice(0, 30).map(c => [c.level,
    timeOf(c.at_ns / 1e6, false) + " " + c.subject + ": " + c.previous.toUpperCase() +
    " \u2192 " + c.level.toUpperCase() + " (" + c.reason + ")"]), "no changes");
}

function drawQuality(targets) {
  const body = document.querySelector("#quality tbody");
  body.replaceChildren();
  const pct = share => Math.round(share * 100) + " %";
  for (const t of targets) {
    const row = document.createElement("tr");
    row.dataset.id = t.id;
    cells(row, [t.name, pct(t.published_share), pct(t.suppressed_share), pct(t.no_data_share),
                t.samples_per_hour.toFixed(1)]);
    body.appendChild(row);
  }
}

// the selected target's reliability over the last 30 days: the whole period, then weekdays
const WEEKDAYS = ["", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
async function loadReport() {
  const body = document.querySelector("#reliability tbody");
  if (!state.selected || !state.key) return;
  if (state.reportOf === state.selected && Date.now() - state.reportAt < 300_000) return;
  const since = new Date(Date.now() - 30 * 86_400_000).toISOString().slice(0, 10);
  const base = "/api/v1/reports/reliability?id=" + encodeURIComponent(state.selected) +
    "&since=" + since;
  const [all, days] = await Promise.all([feed(base), feed(base + "&by=weekday")]);
  state.reportOf = state.selected;
  state.reportAt = Date.now();
  body.replaceChildren();
  const min = s => (s / 60).toFixed(1), two = x => x.toFixed(2);
  for (const r of [...all.rows.map(r => ({ ...r, label: "all days" })),
                   ...days.rows.map(r => ({ ...r, label: WEEKDAYS[r.group] }))]) {
    const row = document.createElement("tr");
    row.dataset.group = r.label;
    cells(row, [r.label, r.windows, min(r.mean_s), min(r.p95_s), min(r.free_flow_s),
                two(r.tti), two(r.pti), two(r.bi)]);
    body.appendChild(row);
  }
  if (!all.rows.length) {
    body.innerHTML = "<tr><td colspan=\"8\" class=\"none\">no windows with a figure</td></tr>";
  }
}

function drawAlerts(alerts) {
  fillList("alerts", alerts.filter(a => a.level !== "ok").map(a => [a.level,
    a.level.toUpperCase() + " " + a.subject + ": " + a.reason + " (since " +
    timeOf(a.since_ns / 1e6) + ")", a.subject]), "no alerts");
}

function render() { drawMap(); drawChart(); drawDrawing(); }

// --- an admin's edits: links (rules and road), routes, detectors' places -------------------
// The same role table as the CLI: the server refuses anyone but an admin (403) and writes
// every change to the audit log; the page only shows the forms to an admin.
const edit = { drawing: null, picking: false, links: null, line: null };
const byId = id => document.getElementById(id);

// a call of the server's API with the page's key; a refusal throws its status and reason
async function send(method, path, body) {
  const headers = state.key ? { Authorization: "Bearer " + state.key } : {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const reply = await fetch(path, { method, headers,
    body: body === undefined ? undefined : JSON.stringify(body) });
  if (reply.ok) return reply.json();
  const answer = await reply.json().catch(() => ({}));
  const detail = Array.isArray(answer.detail) ? answer.detail.map(d =>
    d.loc.slice(1).join(".") + ": " + d.msg).join("; ") : answer.detail;
  throw new Error(reply.status + " " + (detail || reply.statusText));
}

// the road's points from the text box: "longitude, latitude" a line
function roadPoints() {
  return byId("egeometry").value.split("\n").map(l => l.trim()).filter(Boolean)
    .map(l => l.split(/[\s,;]+/).map(Number));
}

// the selected link's or route's stored values into the forms
function fillEdits() {
  if (!edit.links || !state.selected) return;
  const [kind, a, b] = state.selected.split("/");
  if (kind === "link") {
    const link = edit.links.links.find(x => x.src === a && x.dest === b);
    if (!link) return;
    byId("esrc").value = link.src; byId("edest").value = link.dest;
    byId("emax").value = link.max_seconds; byId("elength").value = link.length_m || "";
    byId("eminspeed").value = link.min_speed_kmh || ""; byId("emaxspeed").value = link.max_speed_kmh || "";
    byId("eoutlier").value = link.outlier_filter; byId("evehicle").checked = link.vehicle_only;
    byId("egeometry").value = link.geometry.map(p => p.join(", ")).join("\n");
  } else if (kind === "route") {
    const route = edit.links.routes.find(r => r.name === a);
    if (route) { byId("rname").value = route.name; byId("rids").value = route.detector_ids.join(", "); }
  }
}

async function loadEdits(detectors) {
  byId("editbox").hidden = !(state.settings && state.settings.role === "admin");
  if (byId("editbox").hidden) return;
  edit.links = await feed("/api/v1/links");
  const outliers = byId("eoutlier");
  if (outliers.options.length === 1) {
    for (const name of edit.links.outlier_filters.filter(n => n !== "robust")) {
      outliers.appendChild(new Option(name, name));
    }
  }
  const chosen = byId("pid").value;
  byId("pid").replaceChildren(...detectors.map(d => new Option(d.id + (d.name ? " (" + d.name + ")" : ""), d.id)));
  if (chosen) byId("pid").value = chosen;
  const entries = (await feed("/api/v1/audit?hours=24")).entries;
  fillList("audit", entries.slice(0, 50).map(e => ["", timeOf(e.at_ns / 1e6) + " " + e.who +
    ": " + e.method + " " + e.what]), "no changes");
}

// the road being drawn, on the map as a dashed line
function drawDrawing() {
  if (!map.leaflet) return;
  if (edit.line) { edit.line.remove(); edit.line = null; }
  const points = roadPoints().filter(p => p.length === 2 && p.every(Number.isFinite));
  if (edit.drawing && points.length) {
    edit.line = L.polyline(points.map(([lon, lat]) => [lat, lon]), { className: "drawing",
      interactive: false }).addTo(map.leaflet);
  }
}

function mapClicked(at) {
  const lon = at.lng.toFixed(6), lat = at.lat.toFixed(6);
  if (edit.picking) {
    byId("plat").value = lat; byId("plon").value = lon;
    edit.picking = false;
    byId("pick").textContent = "pick on the map";
  } else if (edit.drawing) {
    const text = byId("egeometry").value.trim();
    byId("egeometry").value = (text ? text + "\n" : "") + lon + ", " + lat;
    drawDrawing();
  }
}

async function saved(what, work) {
  const status = byId("editstatus");
  try {
    await work();
    status.className = "ok";
    status.textContent = "saved: " + what;
    edit.drawing = null;
    byId("draw").textContent = "draw on the map";
    await refresh();
    setTimeout(refresh, 1500);  // the feeds are kept up to a second: the next look has it
  } catch (e) {
    status.className = "bad";
    status.textContent = what + ": not saved: " + e.message;
  }
}

byId("draw").addEventListener("click", () => {
  edit.drawing = edit.drawing ? null : [];
  if (edit.drawing) byId("egeometry").value = "";
  byId("draw").textContent = edit.drawing ? "finish drawing" : "draw on the map";
  drawDrawing();
});
byId("egeometry").addEventListener("input", drawDrawing);
byId("pick").addEventListener("click", () => {
  edit.picking = !edit.picking;
  byId("pick").textContent = edit.picking ? "click the map…" : "pick on the map";
});
byId("linkform").addEventListener("submit", event => {
  event.preventDefault();
  const src = byId("esrc").value.trim(), dest = byId("edest").value.trim();
  const number = id => Number(byId(id).value) || 0;
  saved("link " + src + " -> " + dest, () => send("PUT", "/api/v1/links/" +
    encodeURIComponent(src) + "/" + encodeURIComponent(dest), {
      max_seconds: number("emax"), length_m: number("elength"),
      min_speed_kmh: number("eminspeed"), max_speed_kmh: number("emaxspeed"),
      outlier_filter: byId("eoutlier").value, vehicle_only: byId("evehicle").checked,
      geometry: roadPoints() }));
});
byId("removelink").addEventListener("click", () => {
  const src = byId("esrc").value.trim(), dest = byId("edest").value.trim();
  if (!confirm("Remove the link " + src + " -> " + dest + "?")) return;
  saved("link " + src + " -> " + dest + " removed", () => send("DELETE", "/api/v1/links/" +
    encodeURIComponent(src) + "/" + encodeURIComponent(dest)));
});
byId("routeform").addEventListener("submit", event => {
  event.preventDefault();
  const name = byId("rname").value.trim();
  saved("route " + name, () => send("PUT", "/api/v1/routes/" + encodeURIComponent(name),
    { detector_ids: byId("rids").value.split(/[\s,]+/).filter(Boolean) }));
});
byId("placeform").addEventListener("submit", event => {
  event.preventDefault();
  const id = byId("pid").value;
  saved("place of " + id, () => send("PUT", "/api/v1/detectors/" + encodeURIComponent(id) +
    "/place", { latitude: Number(byId("plat").value), longitude: Number(byId("plon").value) }));
});

async function refresh() {
  const error = document.getElementById("error");
  if (!state.key) {
    document.getElementById("alerts").innerHTML =
      "<li class=\"none\">alerts and detectors need an API key (above)</li>";
  }
  try {
    if (!state.settings) {
      state.settings = await feed("/api/v1/dashboard");
      document.getElementById("attribution").textContent = state.settings.map_attribution || "";
    }
    // the feeds at once: the tables do not wait for the map
    const wanted = [feed("/api/v1/network.geojson")];  // it carries the links' state
    if (state.key) {
      wanted.push(feed("/api/v1/detectors/health"), feed("/api/v1/alerts"),
                  feed("/api/v1/alerts/history?hours=24"));
      if (Date.now() - (state.qualityAt || 0) > 60_000) {  // a day's figures: once a minute
        wanted.push(feed("/api/v1/quality?hours=24"));
      }
    }
    const [network, health, alerts, history, quality] = await Promise.all(wanted);
    state.network = network;
    await loadDetail();
    render();
    if (state.key) {
      drawHealth(health.detectors);
      drawAlerts(alerts.alerts);
      drawHistory(history.changes);
      if (quality) {
        drawQuality(quality.targets);
        state.qualityAt = Date.now();
      }
      await loadEdits(health.detectors);
    }
    await loadReport();
    document.getElementById("updated").textContent = "updated " + timeOf(Date.now()) +
      (zone() ? " (" + zone() + ")" : "");
    error.textContent = "";
    if (!performance.getEntriesByName("roadside-complete").length) {
      performance.mark("roadside-complete");  // the first whole page drawn (bench_dashboard)
    }
  } catch (e) {
    error.textContent = String(e.message || e);
  }
}

for (const id of ["showlinks", "showroutes", "figure"]) {
  document.getElementById(id).addEventListener("change", () => drawMap());
}
document.getElementById("speed").addEventListener("change", () => drawChart());
for (const id of ["day", "span"]) {
  document.getElementById(id).addEventListener("change", async () => {
    await loadDetail().catch(e => { document.getElementById("error").textContent = e.message; });
    render();
  });
}

function useKey() {
  keyFromPage();
  state.settings = null;  // another key, perhaps another role
  refresh();
}
document.getElementById("keyform").addEventListener("submit", event => {
  event.preventDefault();
  sessionStorage.setItem("roadside-key", document.getElementById("key").value.trim());
  useKey();
});
window.addEventListener("hashchange", () => { if (/key=/.test(location.hash)) useKey(); });
keyFromPage();
refresh();
setInterval(refresh, REFRESH_S * 1000);
