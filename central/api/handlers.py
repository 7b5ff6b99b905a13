"""Registers servicers on a server from their service descriptors, with the edge's guards.

Instead of the generated `add_*Servicer_to_server`, every method of a service is
registered here so that two things hold for every call:

- request bytes that do not parse as the method's message end the call with
  INVALID_ARGUMENT naming the message (gRPC's own deserializer would log a traceback and
  answer INTERNAL); a request over `max_bytes` is refused before it is parsed (parsing
  would copy it once more);
- a streaming call (either direction) takes one of the server's `StreamSlots` for as long
  as it runs; with none free it gets RESOURCE_EXHAUSTED at once. The slots are fewer than
  the server's threads, so long-lived streams can never starve unary calls;
- the caller's identity and role are checked against the role table (authz.Guard) before
  the servicer sees the request;
- on shutdown (StreamSlots.close) every open stream is ended at once (the callbacks its
  servicer gave context.add_callback run, e.g. cancelling an etcd watch) with UNAVAILABLE
  "central is shutting down", instead of holding the server for its whole grace period.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.message import DecodeError, Message

from roadside.central.api.authz import Guard, no_audit

SHUTTING_DOWN = "central is shutting down: reconnect (to another central, or once it is back)"


class StreamSlots:
    """How many streaming calls one server runs at once; close() ends them all."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._free = threading.BoundedSemaphore(slots)
        self._lock = threading.Lock()
        self._closing = False
        self._endings: dict[int, list[Callable[[], None]]] = {}  # per call: its callbacks

    @property
    def closing(self) -> bool:
        return self._closing

    def take(self, context: grpc.ServicerContext, method: str) -> None:
        if self._closing:
            context.abort(grpc.StatusCode.UNAVAILABLE, SHUTTING_DOWN)
        if not self._free.acquire(blocking=False):
            context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"{method}: all {self.slots} stream slots of this server are in use; retry "
                "later (unary calls are not affected)",
            )
        with self._lock:
            self._endings[id(context)] = []

    def give(self, context: grpc.ServicerContext) -> None:
        with self._lock:
            self._endings.pop(id(context), None)
        self._free.release()

    def open_streams(self) -> int:
        """Streaming calls running now."""
        with self._lock:
            return len(self._endings)

    def on_end(self, context: grpc.ServicerContext, callback: Callable[[], None]) -> bool:
        """Also run `callback` when the slots close (the servicer's add_callback)."""
        with self._lock:
            closing = self._closing
            if not closing and id(context) in self._endings:
                self._endings[id(context)].append(callback)
        added = bool(context.add_callback(callback))
        if closing:  # closed while this stream was starting: end it too
            callback()
        return added

    def end(self, context: grpc.ServicerContext) -> None:
        """End one open stream now (its callbacks: the follow loop returns)."""
        with self._lock:
            endings = self._endings.get(id(context))
            if endings is None:  # not open (any more)
                return
            self._endings[id(context)] = []
        for callback in endings:
            callback()

    def close(self) -> None:
        """Refuse new streams and end the open ones now. Safe twice."""
        with self._lock:
            self._closing = True
            endings = [cb for cbs in self._endings.values() for cb in cbs]
            self._endings = {k: [] for k in self._endings}
        for callback in endings:
            callback()


class _StreamContext:
    """The call's context, whose add_callback also ends the stream on shutdown."""

    def __init__(self, context: grpc.ServicerContext, slots: StreamSlots) -> None:
        self._context = context
        self._slots = slots

    def add_callback(self, callback: Callable[[], None]) -> bool:
        return self._slots.on_end(self._context, callback)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


class _Undecodable:
    """What the deserializer hands on for bytes that are not the method's message."""

    __slots__ = ("why",)

    def __init__(self, why: str) -> None:
        self.why = why


def _parser(cls: type[Message], max_bytes: int) -> Callable[[bytes], Message | _Undecodable]:
    name = cls.DESCRIPTOR.full_name

    def parse(data: bytes) -> Message | _Undecodable:
        if len(data) > max_bytes:
            return _Undecodable(f"message: {len(data)} bytes, at most {max_bytes}")
        try:
            return cls.FromString(data)
        except (DecodeError, RuntimeError, ValueError) as exc:
            return _Undecodable(f"the request is not a valid {name} message ({exc})")

    return parse


def _check(request: Any, context: grpc.ServicerContext) -> Any:
    if isinstance(request, _Undecodable):
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.why)
    return request


def _checked(requests: Iterator[Any], context: grpc.ServicerContext, guard: Guard,
             name: str) -> Iterator[Any]:
    for index, request in enumerate(requests):
        guard.check_message(name, context, _check(request, context), index)
        yield request


Count = Callable[[str, str], None]  # (method, status code name): CentralMetrics.call


def _counted(name: str, context: grpc.ServicerContext, count: Count | None) -> None:
    if count is not None:
        code = context.code() if callable(getattr(context, "code", None)) else None
        count(name, code.name if code is not None else "OK")


def _handler(
    method: MethodDescriptor, behavior: Callable[..., Any], slots: StreamSlots, max_bytes: int,
    guard: Guard, count: Count | None = None,
) -> grpc.RpcMethodHandler:
    request_cls = message_factory.GetMessageClass(method.input_type)
    response_cls = message_factory.GetMessageClass(method.output_type)
    options = {"request_deserializer": _parser(request_cls, max_bytes),
               "response_serializer": response_cls.SerializeToString}
    name = method.full_name
    cs, ss = method.client_streaming, method.server_streaming

    if not cs and not ss:
        def unary(request: Any, context: grpc.ServicerContext) -> Any:
            try:
                audit = guard.check(name, context, _check(request, context))
                reply = behavior(request, context)
                audit()  # validated and served
                return reply
            finally:
                _counted(name, context, count)

        return grpc.unary_unary_rpc_method_handler(unary, **options)

    if not cs:
        def server_stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            try:
                audit = guard.check(name, context, _check(request, context))
                slots.take(context, name)
            except BaseException:
                _counted(name, context, count)
                raise
            # every message re-checks the caller; a revocation also wakes an idle stream
            serial = guard.serial(context)
            undo = guard.on_revoke(serial, lambda: slots.end(context))
            try:
                for reply in behavior(request, _StreamContext(context, slots)):
                    guard.still_trusted(serial, context)
                    audit()  # validated: its first reply (a no-op after that)
                    audit = no_audit
                    yield reply
                audit()  # validated and ended without a reply
                guard.still_trusted(serial, context)
                if slots.closing:
                    context.abort(grpc.StatusCode.UNAVAILABLE, SHUTTING_DOWN)
            finally:
                undo()
                slots.give(context)
                _counted(name, context, count)

        return grpc.unary_stream_rpc_method_handler(server_stream, **options)

    if ss:
        raise ValueError(f"{name}: bidirectional streams are not served here")

    def client_stream(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
        try:
            audit = guard.check(name, context, None)
            slots.take(context, name)
        except BaseException:
            _counted(name, context, count)
            raise
        try:
            reply = behavior(_checked(requests, context, guard, name), context)
            audit()
            return reply
        finally:
            slots.give(context)
            _counted(name, context, count)

    return grpc.stream_unary_rpc_method_handler(client_stream, **options)


def add_servicer(
    server: grpc.Server, service: ServiceDescriptor, servicer: object, slots: StreamSlots,
    max_bytes: int, guard: Guard, count: Count | None = None,
) -> None:
    """Register every method of `service` as implemented by `servicer`; requests over
    `max_bytes` are refused unparsed; `guard` checks every caller; `count` hears how each
    call ended."""
    handlers = {
        method.name: _handler(method, getattr(servicer, method.name), slots, max_bytes, guard,
                              count)
        for method in service.methods
    }
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service.full_name, handlers),)
    )
