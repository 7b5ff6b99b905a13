// roadside dashboard: the network map, a link's or route's chart and the detector table,
// from the HTTP feeds of the same server, refreshed every ?refresh= seconds (default 10).
"use strict";

const SVG = "http://www.w3.org/2000/svg";
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

async function feed(path) {
  const headers = state.key ? { Authorization: "Bearer " + state.key } : {};
  const reply = await fetch(path, { headers });
  if (!reply.ok) {
    const body = await reply.json().catch(() => ({}));
    throw new Error(path + ": " + reply.status + " " + (body.detail || reply.statusText));
  }
  return reply.json();
}

function el(name, attrs, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

// a link's colour (the network feed's line properties): its alert level where the workers
// evaluate one (so the map and the alert list agree), else its delay against free flow;
// without a figure, or with nothing to judge it by, it is grey, never green
function level(p) {
  if (p.alert === "bad") return "congested";
  if (p.alert === "warn") return "slow";
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
  }
  map.leaflet = m;
  map.layer = L.layerGroup().addTo(m);
  m.on("click", event => mapClicked(event.latlng));  // an admin drawing a road or placing
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
    map.leaflet.fitBounds(here.map(f => latLng(f.geometry.coordinates)), { padding: [40, 40] });
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

function drawChart() {
  const chart = document.getElementById("chart");
  chart.replaceChildren();
  const entry = state.detail;
  const title = document.getElementById("charttitle");
  if (!entry) { title.textContent = "Pick a link or route on the map"; return; }
  const hours = Number(document.getElementById("span").value);
  const chosen = hours ? "" : document.getElementById("day").value;
  // the speed view: km/h over the road's length (when known), else minutes
  const speed = document.getElementById("speed").checked && entry.length_m > 0;
  const v = s => speed ? entry.length_m / s * 3.6 : s / 60;
  title.textContent = entry.name + (speed ? ": speed " : ": travel time ") + (hours ?
    "the last " + hours + " h" : chosen ? "on " + day(Date.parse(chosen + "T12:00:00Z")) :
    "today, " + day(Date.now()));
  const ok = entry.recent.filter(w => w.state === "ok");
  const normals = entry.recent.filter(w => w.normal_s);
  const times = ok.flatMap(w => [w.p10_s, w.p90_s]).concat(entry.free_flow_s ? [entry.free_flow_s] : [])
    .concat(normals.map(w => w.normal_s));
  if (!entry.recent.length) return;
  const t0 = entry.recent[0].window_start_ns, t1 = entry.recent[entry.recent.length - 1].window_end_ns;
  const top = Math.max(speed ? 10 : 1, ...times.map(v)) * 1.1;
  const x = t => 50 + (t - t0) / Math.max(t1 - t0, 1) * 730;
  const y = s => 270 - v(s) / top * 250;
  const step = speed ? ([5, 10, 20, 50].find(k => top / k <= 6) || 100)
    : Math.max(1, Math.round(top / 5));
  for (let m = 0; m <= top; m += step) {
    const at = 270 - m / top * 250;
    el("line", { x1: 50, x2: 780, y1: at, y2: at, class: "gridline" }, chart);
    el("text", { x: 5, y: at + 4, class: "axis value" }, chart).textContent =
      m + (speed ? " km/h" : " min");
  }
  // the time axis: the site's whole hours (every 1, 2, 3 or 6 h, so that few labels fit)
  const span = (t1 - t0) / 3.6e12, every = [1, 2, 3, 6].find(h => span / h <= 8) || 12;
  const first = t0 / 1e6, shift = offsetMs(first);
  for (let h = Math.ceil((first + shift) / 3.6e6); h * 3.6e6 - shift <= t1 / 1e6; h++) {
    if (h % every) continue;
    const ns = (h * 3.6e6 - shift) * 1e6;
    el("line", { x1: x(ns), x2: x(ns), y1: 20, y2: 275, class: "gridline" }, chart);
    el("text", { x: x(ns) - 15, y: 292, class: "axis hour" }, chart).textContent =
      timeOf(ns / 1e6, false);
  }
  for (const w of ok) {
    const [a, b] = [y(w.p90_s), y(w.p10_s)];  // (in the speed view the slow end is low)
    el("rect", { x: x(w.window_start_ns), width: x(w.window_end_ns) - x(w.window_start_ns),
      y: Math.min(a, b), height: Math.max(1, Math.abs(b - a)), class: "band" }, chart);
  }
  const mids = ok.map(w => [x((w.window_start_ns + w.window_end_ns) / 2), y(w.median_s)]);
  el("polyline", { points: mids.map(p => p.join(",")).join(" "), class: "median" }, chart);
  // samples per window as thin bars along the bottom (their scale: the busiest window)
  const most = Math.max(1, ...ok.map(w => w.samples || 0));
  for (const w of ok) {
    const h = 18 * (w.samples || 0) / most;
    el("rect", { x: x(w.window_start_ns) + 1, width: Math.max(1, x(w.window_end_ns) - x(w.window_start_ns) - 2),
                 y: 270 - h, height: h, class: "samples" }, chart);
  }
  ok.forEach((w, i) => {  // a window's details on hover
    const point = el("circle", { cx: mids[i][0], cy: mids[i][1], r: 3.5, class: "point" }, chart);
    el("title", {}, point).textContent = timeOf(w.window_start_ns / 1e6, false) + "–" +
      timeOf(w.window_end_ns / 1e6, false) + ": median " + (w.median_s / 60).toFixed(1) +
      " min (10–90 %: " + (w.p10_s / 60).toFixed(1) + "–" + (w.p90_s / 60).toFixed(1) +
      " min), " + w.samples + " samples" + (w.speed_kmh ? ", " + Math.round(w.speed_kmh) + " km/h" : "") +
      (w.normal_s ? ", normal " + (w.normal_s / 60).toFixed(1) + " min" : "");
  });
  if (normals.length) {
    const line = normals.map(w => [x((w.window_start_ns + w.window_end_ns) / 2), y(w.normal_s)]);
    el("polyline", { points: line.map(p => p.join(",")).join(" "), class: "normal" }, chart);
  }
  if (entry.free_flow_s) {
    el("line", { x1: 50, x2: 780, y1: y(entry.free_flow_s), y2: y(entry.free_flow_s), class: "freeflow" }, chart);
  }
  const live = entry.live;  // the last minutes, provisional: a hollow point at its end
  if (live && live.state === "ok") {
    el("circle", { cx: Math.min(x(live.window_end_ns), 780), cy: y(live.median_s), r: 5,
                   class: "live" }, chart);
    title.textContent += ", now " + (live.median_s / 60).toFixed(1) + " min (last " +
      Math.round((live.window_end_ns - live.window_start_ns) / 6e10) + " min, provisional)";
  }
}

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

async function send(method, path, body) {
  const reply = await fetch(path, { method, body: body === undefined ? undefined :
    JSON.stringify(body), headers: { "Content-Type": "application/json",
    ...(state.key ? { Authorization: "Bearer " + state.key } : {}) } });
  const answer = await reply.json().catch(() => ({}));
  if (!reply.ok) {
    const detail = Array.isArray(answer.detail) ? answer.detail.map(d =>
      d.loc.slice(1).join(".") + ": " + d.msg).join("; ") : answer.detail;
    throw new Error(reply.status + " " + (detail || reply.statusText));
  }
  return answer;
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
    state.network = await feed("/api/v1/network.geojson");  // it carries the links' state
    await loadDetail();
    render();
    await loadReport();
    if (state.key) {
      const detectors = (await feed("/api/v1/detectors/health")).detectors;
      drawHealth(detectors);
      await loadEdits(detectors);
      drawAlerts((await feed("/api/v1/alerts")).alerts);
      drawHistory((await feed("/api/v1/alerts/history?hours=24")).changes);
      if (Date.now() - (state.qualityAt || 0) > 60_000) {  // a day's figures: once a minute
        drawQuality((await feed("/api/v1/quality?hours=24")).targets);
        state.qualityAt = Date.now();
      }
    }
    document.getElementById("updated").textContent = "updated " + timeOf(Date.now()) +
      (zone() ? " (" + zone() + ")" : "");
    error.textContent = "";
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
