"""The reports over HTTP: /api/v1/reports/{reliability,profile,coverage,od} (JSON rows, as
`roadside report ... --format json` prints them). Days are the site's (http_time_zone).

(No `from __future__ import annotations`: FastAPI reads the annotations at run time.)
"""

import datetime
import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException

from roadside.central.http.feeds import Feeds
from roadside.central.store.event_reads import EventQuery, EventReader
from roadside.central.traveltime import downtime, od, reports
from roadside.central.traveltime.config import ROUTE_MAX_SECONDS, TravelTimeConfig

MAX_DAYS = 366  # the longest period a report covers
ANALYST_ROLES = ("analyst",)  # who may read per-device passes (the role table's rule)


def add_routes(app: FastAPI, feeds: Feeds, known: Callable[..., str],
               day_span: Callable[[str, str], tuple[int, int]], time_zone: str) -> None:
    defaults = TravelTimeConfig()

    def period(since: str | None, until: str | None) -> tuple[int, int]:
        today = datetime.date.today()
        first = day_span(since or str(today - datetime.timedelta(days=7)), time_zone)[0]
        end = day_span(until or str(today), time_zone)[1]
        if end <= first:
            raise HTTPException(422, f"until: {until} is before since {since}")
        if end - first > MAX_DAYS * 86_400 * 10**9:
            raise HTTPException(422, f"since: a report covers at most {MAX_DAYS} days")
        return first, end

    def history(target_id: str, since: str | None, until: str | None) -> Any:
        target = next((t for t in feeds.targets() if t.path == target_id), None)
        if target is None:
            raise HTTPException(404, f"no link or route {target_id!r} (ids: link/SRC/DEST, "
                                     "route/NAME)")
        first, end = period(since, until)
        store = feeds.store
        table = reports.history(store.client, store.namespace, target, first, end)
        return table, first, end, target

    @app.get("/api/v1/reports/reliability", summary="TTI, PTI, buffer index, 95th percentile")
    def reliability(_role: Annotated[str, Depends(known)], id: str, since: str | None = None,
                    until: str | None = None, by: str = "period") -> dict[str, Any]:
        if by not in reports.GROUPS:
            raise HTTPException(422, f"by: one of {', '.join(sorted(reports.GROUPS))}")
        table, _first, _end, _target = history(id, since, until)
        return {"rows": reports.reliability(table, by, time_zone or "UTC")}

    @app.get("/api/v1/reports/profile", summary="median travel time by weekday and hour")
    def profile(_role: Annotated[str, Depends(known)], id: str, since: str | None = None,
                until: str | None = None) -> dict[str, Any]:
        table, _first, _end, _target = history(id, since, until)
        return {"rows": reports.profile(table, time_zone or "UTC")}

    @app.get("/api/v1/reports/coverage", summary="windows published, suppressed, without data")
    def coverage(_role: Annotated[str, Depends(known)], id: str, since: str | None = None,
                 until: str | None = None) -> dict[str, Any]:
        table, first, end, target = history(id, since, until)
        rows = reports.coverage(table, first, end, defaults.window_s)
        downtime.add_to(rows, downtime.downtime(EventReader(feeds.store, None),
                                                feeds.archive_dir, target.detectors, first,
                                                end))
        return {"rows": rows}

    @app.get("/api/v1/reports/od", summary="origin-destination matrix (analyst; audited)")
    def origin_destination(role: Annotated[str, Depends(known)], since: str | None = None,
                           until: str | None = None) -> dict[str, Any]:
        if role not in ANALYST_ROLES:
            raise HTTPException(403, f"role {role}: the OD matrix reads per-device passes, "
                                     "for the analyst role")
        first, end = period(since, until)
        store = feeds.store
        passes = od.passes_table(EventReader(store, feeds.archive_dir).iter_events(
            EventQuery((), first, end)))
        store.put_audit(f"http:{role}", "report od",
                        f"{since}..{until}: {passes.num_rows} passes at {time.time_ns()}")
        return {"rows": od.matrix(passes, store.links(), ROUTE_MAX_SECONDS, defaults.k),
                "k": defaults.k}
