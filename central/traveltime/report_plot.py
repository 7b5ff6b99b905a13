"""Reports as pictures (PNG, matplotlib): what `roadside report ... --plot` draws; to a
.html file, a page of its own with the picture and the rows (nothing fetched from
elsewhere)."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def plot(name: str, rows: list[dict[str, Any]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(10, 4.5), layout="constrained")
    try:
        {"reliability": _reliability, "profile": _profile, "coverage": _coverage,
         "od": _od}[name](fig, ax, rows)
        if path.suffix.lower() != ".html":
            fig.savefig(path, dpi=110)
            return
        png = io.BytesIO()
        fig.savefig(png, format="png", dpi=110)
    finally:
        plt.close(fig)
    path.write_text(_page(name, rows, base64.b64encode(png.getvalue()).decode()))


def _page(name: str, rows: list[dict[str, Any]], png: str) -> str:
    heads = list(rows[0]) if rows else []
    body = "".join("<tr>" + "".join(f"<td>{_cell(r[h])}</td>" for h in heads) + "</tr>"
                   for r in rows)
    return (f"<!doctype html><html lang=\"en\"><meta charset=\"utf-8\">"
            f"<title>roadside {name} report</title><h1>roadside {name} report</h1>"
            f"<img alt=\"{name}\" src=\"data:image/png;base64,{png}\">"
            f"<table><tr>{''.join(f'<th>{html.escape(h)}</th>' for h in heads)}</tr>{body}"
            f"</table></html>\n")


def _cell(v: Any) -> str:
    return html.escape("" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v))


def _reliability(fig: Any, ax: Any, rows: list[dict[str, Any]]) -> None:
    groups = [str(r["group"]) for r in rows]
    x = range(len(rows))
    ax.plot(x, [r["mean_s"] / 60 for r in rows], "o-", label="mean")
    ax.plot(x, [r["p95_s"] / 60 for r in rows], "s--", label="95th percentile")
    if rows:
        ax.axhline(rows[0]["free_flow_s"] / 60, color="grey", lw=1, label="free flow")
    ax.set_xticks(list(x), groups, rotation=45 if len(groups) > 8 else 0, ha="right")
    ax.set_ylabel("travel time (min)")
    ax.set_title("Travel-time reliability: " + ", ".join(
        f"{g} TTI {r['tti']:.2f} PTI {r['pti']:.2f}" for g, r in zip(groups[:3], rows[:3],
                                                                     strict=False)))
    ax.legend()


def _profile(fig: Any, ax: Any, rows: list[dict[str, Any]]) -> None:
    grid = [[float("nan")] * 24 for _ in range(7)]
    for r in rows:
        if r["median_s"] is not None:
            grid[r["weekday"] - 1][r["hour"]] = r["median_s"] / 60
    image = ax.imshow(grid, aspect="auto", cmap="viridis")
    ax.set_yticks(range(7), WEEKDAYS)
    ax.set_xticks(range(0, 24, 2), [f"{h:02d}" for h in range(0, 24, 2)])
    ax.set_xlabel("hour of the day (site's clock)")
    ax.set_title("Median travel time by weekday and hour")
    fig.colorbar(image, ax=ax, label="minutes")


def _coverage(fig: Any, ax: Any, rows: list[dict[str, Any]]) -> None:
    r = rows[0] if rows else {"published": 0, "suppressed": 0, "without_data": 0}
    parts = [("published", r["published"]), ("suppressed", r["suppressed"]),
             ("no data", r["without_data"])]
    ax.bar([p[0] for p in parts], [p[1] for p in parts], color=["#2a7", "#db3", "#bbb"])
    ax.set_ylabel("windows")
    ax.set_title("Coverage: windows by state")


def _od(fig: Any, ax: Any, rows: list[dict[str, Any]]) -> None:
    names = sorted({r["origin"] for r in rows} | {r["destination"] for r in rows})
    at = {n: i for i, n in enumerate(names)}
    grid = [[float("nan")] * len(names) for _ in names]
    for r in rows:
        if r["devices"] is not None:
            grid[at[r["origin"]]][at[r["destination"]]] = r["devices"]
    image = ax.imshow(grid, cmap="magma_r")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("destination")
    ax.set_ylabel("origin")
    ax.set_title("Origin-destination: distinct devices (blank: none, or under k)")
    fig.colorbar(image, ax=ax, label="devices")
