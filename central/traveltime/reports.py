"""Reports over a link's or route's windows, in SQL on DuckDB (embedded: nothing to run).

The windows come from store.read_windows (the archive for old days, etcd for the rest) as
one Arrow table `w` with the archive's columns (central/traveltime/archive.py), so the same
SQL runs on the archive's Parquet files where a city runs it on a cluster engine
(docs/reports.md). Each report is a list of rows (dicts of machine values).

Reliability (FHWA's measures, over the 5-min windows of the period with a figure, each
window's median an observation): travel time index TTI = mean / free flow, planning time
index PTI = 95th percentile / free flow, buffer index BI = (95th percentile - mean) / mean,
and the 95th percentile itself. Suppressed windows are those under k devices; a window
nobody was seen in is "without data" (the API's rule). Free flow: the 15th percentile of the
period's window medians (the workers' own definition, reference.free_flow_s), unless given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from roadside.central.store.archive import pyarrow_modules
from roadside.central.traveltime import archive, reference, store
from roadside.central.traveltime.model import Target, WindowSummary

GROUPS = {  # --by: the SQL that names a row's group, on the site's clock
    "period": "'all'",
    "day": "strftime(timezone($tz, to_timestamp(window_start_ns / 1e9)), '%Y-%m-%d')",
    "weekday": "isodow(timezone($tz, to_timestamp(window_start_ns / 1e9)))",
    "hour": "hour(timezone($tz, to_timestamp(window_start_ns / 1e9)))",
}
FREE_FLOW_PERCENTILE = reference.FREE_FLOW_PERCENTILE / 100  # the workers' definition

RELIABILITY = """
WITH f AS (SELECT median_s, {group} AS grp FROM w WHERE median_s IS NOT NULL),
ff AS (SELECT coalesce($free_flow, quantile_cont(median_s, {ffp})) AS free_flow_s FROM f)
SELECT grp AS "group", count(*) AS windows, avg(median_s) AS mean_s,
       quantile_cont(median_s, 0.5) AS median_s, quantile_cont(median_s, 0.95) AS p95_s,
       any_value(ff.free_flow_s) AS free_flow_s,
       avg(median_s) / any_value(ff.free_flow_s) AS tti,
       quantile_cont(median_s, 0.95) / any_value(ff.free_flow_s) AS pti,
       (quantile_cont(median_s, 0.95) - avg(median_s)) / avg(median_s) AS bi
FROM f, ff GROUP BY grp ORDER BY grp
"""

PROFILE = """
SELECT isodow(timezone($tz, to_timestamp(window_start_ns / 1e9))) AS weekday,
       hour(timezone($tz, to_timestamp(window_start_ns / 1e9))) AS hour,
       count(median_s) AS windows, quantile_cont(median_s, 0.5) AS median_s,
       quantile_cont(median_s, 0.1) AS p10_s, quantile_cont(median_s, 0.9) AS p90_s
FROM w GROUP BY weekday, hour ORDER BY weekday, hour
"""

COVERAGE = """
WITH s AS (SELECT *, suppressed AND NOT no_data AS withheld FROM w)
SELECT count(*) AS windows_stored,
       $expected AS windows_expected,
       count(median_s) AS published, count(*) FILTER (WHERE withheld) AS suppressed,
       $expected - count(median_s) - count(*) FILTER (WHERE withheld) AS without_data,
       count(median_s) / $expected AS published_share,
       count(*) FILTER (WHERE withheld) / $expected AS suppressed_share,
       coalesce(sum(count) FILTER (WHERE median_s IS NOT NULL), 0) / ($hours)
           AS samples_per_hour,  -- a suppressed window's count is not told
       count(*) FILTER (WHERE list_contains(clock_excluded, src)
                        OR list_contains(clock_excluded, dest)) AS clock_excluded_windows
FROM s
"""


def windows_table(windows: Sequence[WindowSummary], path: str) -> Any:
    """The windows as an Arrow table with the archive's columns."""
    pa, _pq = pyarrow_modules()
    rows = [archive.row(path, w) for w in windows]
    return pa.Table.from_pylist(rows, schema=archive.schema(pa))


def history(client: Any, ns: str, target: Target, since_ns: int, until_ns: int) -> Any:
    """The target's windows starting in [since, until) as one Arrow table: the archive's
    files read as they are (filtered by target and time in Arrow, no Python object per
    window), then etcd's windows over them (etcd's of the same start wins)."""
    pa, _pq = pyarrow_modules()
    import pyarrow.compute as pc

    recent = [w for w, _rev in store.read_windows(
        client, ns, target, since_ns // NS, -(-until_ns // NS), archived=False)
        if since_ns <= w.window_start_ns < until_ns]
    table = windows_table(recent, target.path)
    old = store.archived_windows(client, ns, target, since_ns, until_ns)
    if old is None:
        return table
    old = old.filter(pc.invert(pc.is_in(old["window_start_ns"], table["window_start_ns"])))
    return pa.concat_tables([old, table])


NS = 1_000_000_000


def run(sql: str, table: Any, params: dict[str, Any], **more: Any) -> list[dict[str, Any]]:
    """`sql` over `table` (as `w`, and `more` tables by their names), rows as dicts."""
    import duckdb  # only reports need it: the other commands start without it

    con = duckdb.connect()
    try:
        con.register("w", table)
        for name, other in more.items():
            con.register(name, other)
        cursor = con.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


def reliability(table: Any, by: str = "period", time_zone: str = "UTC",
                free_flow_s: float | None = None) -> list[dict[str, Any]]:
    sql = RELIABILITY.format(group=GROUPS[by], ffp=FREE_FLOW_PERCENTILE)
    params: dict[str, Any] = {"free_flow": free_flow_s}
    if "$tz" in sql:
        params["tz"] = time_zone
    return run(sql, table, params)


def profile(table: Any, time_zone: str = "UTC") -> list[dict[str, Any]]:
    return run(PROFILE, table, {"tz": time_zone})


def coverage(table: Any, since_ns: int, until_ns: int, window_s: int) -> list[dict[str, Any]]:
    span_s = (until_ns - since_ns) / 1e9
    return run(COVERAGE, table, {"expected": max(1, int(span_s // window_s)),
                                 "hours": span_s / 3600})
