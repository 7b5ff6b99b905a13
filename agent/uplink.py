"""Uploading the disk buffer to central, until central has acknowledged every row.

One loop: read the oldest rows (bounded by batch_max_passes and batch_max_bytes), make
each a roadside.v1.Pass with its ULID (rows are packed passes: wire.pass_to_row),
UploadBatch with a deadline, delete the rows only after central answered (which means
they are committed in etcd). On failure: capped exponential backoff with jitter, then
the next endpoint; it never gives up. A batch central rejects as INVALID_ARGUMENT is
retried one pass at a time, and only a single pass central rejects is dropped (counted,
logged), so one bad row never blocks the buffer; a row that does not even decode is set
aside in the buffer (counted). A buffer that cannot be read or acknowledged (disk full) is
a failed attempt like a network error: backed off, retried, nothing dropped. RESOURCE_
EXHAUSTED (central's per-detector quota) backs off and keeps the rows. While backing off
after central was unreachable, its grpc.health.v1 is asked every PROBE_S: SERVING ends
the wait and resets the backoff, so uploads resume as soon as central can take them.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from roadside.agent import enroll
from roadside.agent.buffer import DiskBuffer, DiskBufferError, Row
from roadside.agent.channel import credentials, open_channel
from roadside.agent.config import AgentConfig
from roadside.agent.passes import new_ulid, ulid_prefix
from roadside.agent.status import AgentStatus
from roadside.agent.wire import row_to_pb, status_to_pb
from roadside.common.tlsprobe import diagnose
from roadside.proto.v1 import collector_pb2, collector_pb2_grpc, types_pb2

log = logging.getLogger(__name__)

# refused passes: each of the first few is logged, then one line every so many
REJECT_LOG_FIRST = 5
REJECT_LOG_EVERY = 1000

IDLE_POLL_S = 5.0  # look at the buffer at least this often when nothing wakes us
CHANNEL_CLOSE_TIMEOUT_S = 2.0
STATUS_TIMEOUT_S = 5.0
PROBE_S = 1.0  # while backing off from an unreachable central, ask its health this often
PROBE_TIMEOUT_S = 1.0
# failures after which central's health is probed during the backoff (not a quota refusal)
PROBED_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                          grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL})
# refusals of who is calling: a running agent keeps trying (an operator may mend it), a
# finite run (a replay) stops draining at once and says why
REFUSED_CODES = frozenset({grpc.StatusCode.PERMISSION_DENIED,
                           grpc.StatusCode.UNAUTHENTICATED})




@dataclass(frozen=True, slots=True)
class UplinkCounts:
    uploads: int  # successful UploadBatch calls
    failures: int  # failed calls
    passes_sent: int  # passes acknowledged by central
    rejected: int  # single passes central refused as invalid (dropped)
    last_success_ns: int  # 0 = never
    last_error: str
    endpoint: str


class Uplink:
    def __init__(
        self,
        config: AgentConfig,
        buffer: DiskBuffer,
        clock: Callable[[], int] = time.time_ns,
        rng: random.Random | None = None,
    ) -> None:
        if not config.central:
            raise ValueError("central: at least one collector endpoint is needed")
        credentials(config)  # no TLS settings or unreadable files: said now, not per upload
        self._config = config
        self._ulid_prefix = ulid_prefix(config.detector_id)  # its passes' ULIDs
        self._buffer = buffer
        self._clock = clock
        self._rng = rng or random.Random()
        self._endpoints = tuple(config.central)
        self._index = 0
        self._channel: grpc.aio.Channel | None = None
        self._stub: collector_pb2_grpc.CollectorServiceStub | None = None
        self._wake = asyncio.Event()
        self._single_until_id = 0  # rows up to this id go one at a time (after a rejection)
        self._uploads = 0
        self._failures = 0
        self._streak = 0  # consecutive failures, for the backoff
        self._passes_sent = 0
        self._rejected = 0
        self._last_success_ns = 0
        self._last_error = ""
        self._probe = False  # the last failure was central being unreachable
        self._causes: dict[str, str | None] = {}  # endpoint -> why its channel did not open
        self.refused = ""  # central's refusal of this caller, while the last upload had one

    # --- public ------------------------------------------------------------------

    def wake(self) -> None:
        """New rows are in the buffer: upload without waiting for the poll."""
        self._wake.set()

    def counts(self) -> UplinkCounts:
        return UplinkCounts(
            uploads=self._uploads,
            failures=self._failures,
            passes_sent=self._passes_sent,
            rejected=self._rejected,
            last_success_ns=self._last_success_ns,
            last_error=self._last_error,
            endpoint=self._endpoints[self._index],
        )

    async def run(self, stop: asyncio.Event, beat: Callable[[], None] | None = None) -> None:
        """Upload until `stop` is set; back off and fail over on errors, never give up.
        `beat` is called after every attempt (the agent's task supervisor)."""
        try:
            while not stop.is_set():
                self._wake.clear()
                sent = await self.upload_once()
                if beat is not None:
                    beat()
                if sent is None:
                    await self._back_off(stop)
                elif sent == 0:
                    await _wait_any(stop, self._wake, IDLE_POLL_S)
                elif sent < self._config.batch_max_passes:
                    await self._linger(stop)
        finally:
            await self.close()

    async def _linger(self, stop: asyncio.Event) -> None:
        """After a partial batch, let the next one fill for batch_linger_s, unless a full
        batch is waiting already (fewer, larger uploads; central merges a bucket's later)."""
        end = time.monotonic() + self._config.batch_linger_s
        while not stop.is_set() and (left := end - time.monotonic()) > 0:
            self._wake.clear()
            if await asyncio.to_thread(self._buffer.depth) >= self._config.batch_max_passes:
                return
            await _wait_any(stop, self._wake, left)

    async def _back_off(self, stop: asyncio.Event) -> None:
        """Wait out the backoff; after an outage, end it once central's health says SERVING."""
        end = time.monotonic() + self._backoff_s()
        while not stop.is_set():
            left = end - time.monotonic()
            if left <= 0:
                return
            if not self._probe or left <= PROBE_S:
                await _wait_any(stop, None, left)
                return
            await _wait_any(stop, None, PROBE_S)
            if not stop.is_set() and await self._serving():
                log.info("central %s answers again: uploading", self._endpoints[self._index])
                self._streak = 0
                return

    async def _serving(self) -> bool:
        self._stub_for_call()  # opens the channel to the current endpoint
        stub = health_pb2_grpc.HealthStub(self._channel)
        try:
            answer = await stub.Check(health_pb2.HealthCheckRequest(), timeout=PROBE_TIMEOUT_S)
        except grpc.aio.AioRpcError:
            return False
        return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)

    async def drain(self, deadline_s: float) -> bool:
        """Upload until the buffer is empty or the deadline passes; True when empty."""
        end = time.monotonic() + deadline_s
        while self._buffer.depth() > 0:
            left = end - time.monotonic()
            if left <= 0:
                return False
            sent = await self.upload_once(min(left, self._config.upload_timeout_s))
            if sent is None:
                if self.refused:
                    return False  # retrying cannot cure it
                pause = min(self._backoff_s(), end - time.monotonic())
                if pause > 0:
                    await asyncio.sleep(pause)  # backoff between attempts, bounded by deadline
        return True

    async def upload_once(self, timeout_s: float | None = None) -> int | None:
        """Send one batch. Return passes acknowledged (0: buffer empty), None on failure."""
        try:
            rows = await asyncio.to_thread(self._next_rows)
        except DiskBufferError as exc:
            self._buffer_failed(exc)
            return None
        if not rows:
            return 0
        passes, bad = _unique_passes(rows, self._ulid_prefix)
        if bad:
            try:  # counted by the buffer (its stats' set_aside)
                await asyncio.to_thread(self._buffer.set_aside, bad, "not a pass")
            except DiskBufferError as exc:
                self._buffer_failed(exc)
                return None
            if not passes:
                return len(bad)  # moved out of the way: the rows behind them come next
            aside = set(bad)
            rows = [r for r in rows if r.id not in aside]
        timeout = self._config.upload_timeout_s if timeout_s is None else timeout_s
        now_ns = self._clock()
        request = collector_pb2.UploadBatchRequest(
            detector_id=self._config.detector_id,
            batch_id=new_ulid(now_ns),
            passes=passes,
            sent_ns=now_ns,  # central compares it with its own clock: the box's offset
        )
        try:
            await self._stub_for_call().UploadBatch(request, timeout=timeout)
        except grpc.aio.AioRpcError as exc:
            return await self._failed(rows, exc)
        try:
            await asyncio.to_thread(self._buffer.ack, [r.id for r in rows])
        except DiskBufferError as exc:  # central has them: a resend later is idempotent
            self._buffer_failed(exc)
            return None
        self._uploads += 1
        self._streak = 0
        self.refused = ""
        self._passes_sent += len(rows)
        self._last_success_ns = self._clock()
        self._probe = False
        return len(rows)

    def _buffer_failed(self, exc: DiskBufferError) -> None:
        """The buffer could not be read or acknowledged: back off, keep everything."""
        self._failures += 1
        self._streak += 1
        self._probe = False
        self._last_error = f"buffer: {exc}"
        log.warning("upload paused: %s", exc)

    async def report_status(self, status: AgentStatus) -> bool:
        """ReportStatus to the current endpoint; False (logged) when it fails."""
        request = collector_pb2.ReportStatusRequest(status=status_to_pb(status))
        try:
            await self._stub_for_call().ReportStatus(request, timeout=STATUS_TIMEOUT_S)
        except grpc.aio.AioRpcError as exc:
            log.info("status report failed: %s", exc.code().name)
            return False
        return True

    async def renew_certificate(self) -> bool:
        """Renew the agent's certificate over its current identity when it is due; True
        when renewed (the next call reconnects with the new pair)."""
        cert, key = self._config.tls_cert_file, self._config.tls_key_file
        if cert is None or key is None or not enroll.renewal_due(cert):
            return False
        self._stub_for_call()  # opens the channel on the current certificate
        assert self._channel is not None
        until = await enroll.renew(self._channel, cert, key)
        await self.close()
        log.info("certificate renewed, valid until %s", f"{until:%Y-%m-%d %H:%M} UTC")
        return True

    async def close(self) -> None:
        """Close the channel. Safe to call twice."""
        channel, self._channel, self._stub = self._channel, None, None
        if channel is not None:
            await channel.close(grace=CHANNEL_CLOSE_TIMEOUT_S)

    # --- inside ------------------------------------------------------------------

    def _next_rows(self) -> list[Row]:
        rows = self._buffer.next_batch(self._config.batch_max_passes,
                                       self._config.batch_max_bytes)
        if rows and rows[0].id <= self._single_until_id:
            return rows[:1]
        return rows

    def _stub_for_call(self) -> collector_pb2_grpc.CollectorServiceStub:
        if self._stub is None:
            endpoint = self._endpoints[self._index]
            self._channel = open_channel(endpoint, self._config)
            self._stub = collector_pb2_grpc.CollectorServiceStub(  # type: ignore[no-untyped-call]
                self._channel
            )
        return self._stub

    async def _failed(self, rows: Sequence[Row], exc: grpc.aio.AioRpcError) -> int | None:
        code = exc.code()
        endpoint = self._endpoints[self._index]
        self._last_error = f"{endpoint}: {code.name}: {exc.details()}"
        if code is grpc.StatusCode.INVALID_ARGUMENT:
            if len(rows) > 1:
                # find the bad pass: send this stretch one pass at a time
                self._single_until_id = rows[-1].id
                log.warning("central refused a batch of %d passes (%s); retrying one by one",
                            len(rows), exc.details())
                return await self.upload_once()
            await asyncio.to_thread(self._buffer.ack, [rows[0].id])
            self._rejected += 1
            if self._rejected <= REJECT_LOG_FIRST or self._rejected % REJECT_LOG_EVERY == 0:
                log.error("central refused a pass as invalid, dropped it (%d so far): %s",
                          self._rejected, exc.details())
            return 1
        self._failures += 1
        self._streak += 1
        self._probe = code in PROBED_CODES
        self.refused = f"{code.name}: {exc.details()}" if code in REFUSED_CODES else ""
        if code is grpc.StatusCode.UNAVAILABLE and "failed to connect" in (exc.details() or ""):
            cause = await self._cause(endpoint)  # TLS mistakes look like an outage to gRPC
            if cause:
                self._last_error = cause
        log.warning("upload of %d passes to %s failed: %s (%s)",
                    len(rows), endpoint, code.name, exc.details())
        await self.close()  # a fresh connection next time, on the next endpoint
        self._index = (self._index + 1) % len(self._endpoints)
        return None

    async def _cause(self, endpoint: str) -> str | None:
        """Why the channel did not open, probed once per endpoint and streak of failures."""
        if self._streak > len(self._endpoints):
            return self._causes.get(endpoint)
        c = self._config
        self._causes[endpoint] = await asyncio.to_thread(
            diagnose, endpoint, c.tls_ca_file, c.tls_cert_file, c.tls_key_file, c.insecure)
        if self._causes[endpoint]:
            log.warning("central at %s: %s", endpoint, self._causes[endpoint])
        return self._causes[endpoint]

    def _backoff_s(self) -> float:
        """Capped exponential backoff with full jitter in [cap/2, cap]."""
        cap = min(
            self._config.backoff_max_s,
            self._config.backoff_initial_s * (2 ** min(self._streak, 30)),
        )
        return float(cap * (0.5 + 0.5 * self._rng.random()))


async def _wait_any(stop: asyncio.Event, other: asyncio.Event | None, wait_s: float) -> None:
    """Wait until `stop` (or `other`) is set or `wait_s` seconds pass."""
    events = [stop] if other is None else [stop, other]
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=wait_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


def _unique_passes(rows: Sequence[Row], prefix: hashlib._Hash,
                   ) -> tuple[list[types_pb2.Pass], list[int]]:
    """The rows' passes, each (ulid, device id) once (a replay may buffer a pass twice),
    and the ids of rows that do not decode."""
    seen: set[tuple[str, str]] = set()
    out = []
    bad = []
    for row in rows:
        try:
            p = row_to_pb(row.payload, prefix)
        except ValueError:
            bad.append(row.id)
            continue
        if (p.ulid, p.device_id) not in seen:
            seen.add((p.ulid, p.device_id))
            out.append(p)
    return out, bad
