"""An origin-destination matrix between detectors over a period, in SQL on DuckDB.

A device's passes in time order make trips: a trip goes on while each next pass follows
the one before within the limit of the link between their detectors (its max_seconds; the
workers' route_max_seconds where no link joins them) and ends otherwise. A trip starts at
its first pass's detector and ends at its last's (or their zones, when detectors are grouped
into zones); a cell counts the distinct devices with
a trip from its origin to its destination. Cells under k devices are suppressed (their
count withheld, as a window's figure is), so no cell tells about a few people. Alias passes
(a device's previous-epoch id just after the key changes) are left out: each trip once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from roadside.central.store.records import LinkRecord, StoredPass
from roadside.central.traveltime.reports import run

OD = """
WITH p AS (SELECT device_id, detector_id, timestamp_ns FROM w WHERE NOT alias),
o AS (
  SELECT *, lag(timestamp_ns) OVER d AS prev_ns, lag(detector_id) OVER d AS prev_det
  FROM p WINDOW d AS (PARTITION BY device_id ORDER BY timestamp_ns, detector_id)),
g AS (
  SELECT o.*, coalesce(l.max_seconds, $default_s) * 1e9 AS limit_ns
  FROM o LEFT JOIN links l ON l.src = o.prev_det AND l.dest = o.detector_id),
t AS (
  SELECT *, sum(CASE WHEN prev_ns IS NULL OR timestamp_ns - prev_ns > limit_ns
                     THEN 1 ELSE 0 END)
              OVER (PARTITION BY device_id ORDER BY timestamp_ns, detector_id) AS trip
  FROM g),
trips AS (
  SELECT device_id, arg_min(detector_id, timestamp_ns) AS first_det,
         arg_max(detector_id, timestamp_ns) AS last_det
  FROM t GROUP BY device_id, trip),
z AS (
  SELECT device_id, coalesce(a.zone, first_det) AS origin,
         coalesce(b.zone, last_det) AS destination
  FROM trips LEFT JOIN zones a ON a.detector_id = first_det
             LEFT JOIN zones b ON b.detector_id = last_det)
SELECT origin, destination, count(DISTINCT device_id) AS devices
FROM z WHERE origin <> destination GROUP BY origin, destination
ORDER BY origin, destination
"""


def passes_table(passes: Iterable[StoredPass]) -> Any:
    import pyarrow as pa

    cols: dict[str, list[Any]] = {"device_id": [], "detector_id": [], "timestamp_ns": [],
                                  "alias": []}
    for p in passes:
        cols["device_id"].append(p.device_id)
        cols["detector_id"].append(p.detector_id)
        cols["timestamp_ns"].append(p.timestamp_ns)
        cols["alias"].append(p.alias)
    return pa.table(cols, schema=pa.schema([
        ("device_id", pa.string()), ("detector_id", pa.string()),
        ("timestamp_ns", pa.int64()), ("alias", pa.bool_())]))


def matrix(passes: Any, links: Sequence[LinkRecord], default_max_seconds: int,
           k: int, zones: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """One row per origin-destination pair with trips: devices, or None (suppressed).
    With `zones` (detector -> zone) trips start and end in zones (a detector in none is
    its own), and a trip within one zone is not counted."""
    import pyarrow as pa

    zone_table = pa.table({"detector_id": list(zones or {}), "zone": list((zones or {}).values())},
                          schema=pa.schema([("detector_id", pa.string()), ("zone", pa.string())]))
    link_table = pa.table({"src": [lk.src for lk in links], "dest": [lk.dest for lk in links],
                           "max_seconds": [float(lk.max_seconds) for lk in links]},
                          schema=pa.schema([("src", pa.string()), ("dest", pa.string()),
                                            ("max_seconds", pa.float64())]))
    rows = run(OD, passes, {"default_s": float(default_max_seconds)}, links=link_table,
               zones=zone_table)
    for row in rows:
        row["suppressed"] = row["devices"] < k
        if row["suppressed"]:
            row["devices"] = None
    return rows
