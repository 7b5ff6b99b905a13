"""Travel-time windows as stored: one etcd key per link or route and hour.

A WindowBlock (proto/v1/stored.proto) holds the windows that start in its hour. A window
nobody was seen in (no sample, rejection or unmatched pass) keeps only its start and its
worker: the block's `window_s`, `empty_revision` (the oldest source revision among them: a late pass
newer than it has the window computed again) and `empty_computed_ns` stand for the rest.
Samples are kept in milliseconds (the JSON layout rounded them so too). The per-window
JSON keys of the earlier layout are still read; writing an hour replaces them.
"""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf.message import DecodeError

from roadside.central.traveltime.model import Figures, Target, WindowSummary
from roadside.proto.v1 import stored_pb2

VERSION = 1
HOUR_S = 3600
NS = 1_000_000_000


def hour_of(window_start_s: int) -> int:
    return window_start_s - window_start_s % HOUR_S


def is_empty(w: WindowSummary) -> bool:
    """Nobody seen (as the engine makes such a window: no figure, so suppressed): the
    window is kept as its start only."""
    return (w.nobody and w.suppressed and w.figures is None
            and not w.unmatched and not w.samples_s and not w.devices and not w.by_class
            and not w.by_address_kind and not w.vehicle_only and not w.clock_corrected
            and not w.clock_excluded and not w.provisional
            and (w.window_end_ns - w.window_start_ns) % NS == 0)


def encode(target: Target, hour_s: int, windows: Iterable[WindowSummary]) -> bytes:
    """One hour's windows of a target (each starting in it, one per start) as a
    WindowBlock."""
    block = stored_pb2.WindowBlock(version=VERSION, hour_s=hour_s, src=target.src,
                                   dest=target.dest, route=target.route)
    empty_revisions = []
    workers: dict[str, int] = {}
    for w in sorted(windows, key=lambda w: w.window_start_ns):
        offset = w.window_start_ns // NS - hour_s
        length = (w.window_end_ns - w.window_start_ns) // NS
        if is_empty(w) and block.window_s in (0, length):
            block.window_s = length
            block.empty_offsets_s.append(offset)
            block.empty_workers.append(workers.setdefault(w.worker, len(workers)))
            empty_revisions.append(w.source_revision)
            block.empty_computed_ns = max(block.empty_computed_ns, w.computed_ns)
            continue
        block.windows.append(_stored(w, offset, length,
                                     workers.setdefault(w.worker, len(workers))))
    block.empty_revision = min(empty_revisions, default=0)
    block.workers.extend(workers)
    return block.SerializeToString()


def _stored(w: WindowSummary, offset: int, length: int,
            worker: int) -> stored_pb2.StoredWindow:
    s = stored_pb2.StoredWindow(
        offset_s=offset, length_s=length, computed_ns=w.computed_ns,
        source_revision=w.source_revision, worker=worker, count=w.count,
        devices=w.devices, suppressed=w.suppressed, unmatched=w.unmatched,
        rejections=w.rejections, samples_ms=[round(x * 1000) for x in w.samples_s],
        by_class=w.by_class, by_address_kind=w.by_address_kind,
        vehicle_only=w.vehicle_only, clock_corrected=w.clock_corrected,
        clock_excluded=w.clock_excluded,
    )
    if w.figures is not None:
        f = w.figures
        s.has_figures = True
        s.median_s, s.p10_s, s.p25_s = f.median_s, f.p10_s, f.p25_s
        s.p75_s, s.p90_s, s.mad_s = f.p75_s, f.p90_s, f.mad_s
    return s


def decode(value: bytes) -> list[WindowSummary]:
    """A block's windows in start order; DecodeError when it is not one."""
    block = _parse(value)
    hour, route, src, dest = block.hour_s, block.route, block.src, block.dest
    workers = list(block.workers)
    out = [WindowSummary(
        src=src, dest=dest, route=route, window_start_ns=(hour + offset) * NS,
        window_end_ns=(hour + offset + block.window_s) * NS, count=0, suppressed=True,
        figures=None, computed_ns=block.empty_computed_ns,
        source_revision=block.empty_revision, worker=workers[worker])
        for offset, worker in zip(block.empty_offsets_s, block.empty_workers, strict=True)]
    for s in block.windows:
        start = hour + s.offset_s
        figures = (Figures(s.median_s, s.p10_s, s.p25_s, s.p75_s, s.p90_s, s.mad_s)
                   if s.has_figures else None)
        out.append(WindowSummary(
            src=src, dest=dest, route=route, window_start_ns=start * NS,
            window_end_ns=(start + s.length_s) * NS, count=s.count, suppressed=s.suppressed,
            figures=figures, rejections=dict(s.rejections), unmatched=s.unmatched,
            samples_s=tuple(ms / 1000 for ms in s.samples_ms), computed_ns=s.computed_ns,
            source_revision=s.source_revision, worker=workers[s.worker] if workers else "",
            devices=s.devices,
            by_class=dict(s.by_class), by_address_kind=dict(s.by_address_kind),
            vehicle_only=s.vehicle_only, clock_corrected=dict(s.clock_corrected),
            clock_excluded=tuple(s.clock_excluded)))
    out.sort(key=lambda w: w.window_start_ns)
    return out


UNREADABLE = (ValueError, KeyError, TypeError, DecodeError)  # what stored() may raise


def stored(key: bytes, value: bytes) -> list[WindowSummary]:
    """The windows under a key of either layout: an hour's block (its last segment "h" and
    the hour) or one window's JSON (the earlier layout); UNREADABLE when it is neither."""
    if key[key.rfind(b"/") + 1:].startswith(b"h"):
        return decode(value)
    return [WindowSummary.from_json(value)]


def starts(value: bytes) -> list[int]:
    """The starts (unix s) of a block's windows, without building them."""
    block = _parse(value)
    return [block.hour_s + o for o in
            [*block.empty_offsets_s, *(w.offset_s for w in block.windows)]]


def _parse(value: bytes) -> stored_pb2.WindowBlock:
    block = stored_pb2.WindowBlock.FromString(value)
    if block.version != VERSION:
        raise DecodeError(f"window block version {block.version}")
    return block


def merged(old: Iterable[WindowSummary], new: Iterable[WindowSummary]) -> list[WindowSummary]:
    """`old` with the windows of `new` in place of those with the same start."""
    by_start = {w.window_start_ns: w for w in old}
    by_start.update((w.window_start_ns, w) for w in new)
    return [by_start[k] for k in sorted(by_start)]
