"""The one table from central's exceptions to gRPC status codes, and the decorator that uses it.

Servicer methods (unary or server-streaming, sync) wrapped in `@grpc_method` turn a
CentralError into an aborted call with the mapped code and the error's message; any other
exception is logged here and becomes INTERNAL without details (no traceback to clients).
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, TypeVar, cast

import grpc

from roadside.central.errors import (
    CentralError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    StoreFull,
    StoreUnavailable,
    Unauthenticated,
)

log = logging.getLogger(__name__)

# Most specific first; CentralError itself is the catch-all of the package.
CODES: tuple[tuple[type[CentralError], grpc.StatusCode], ...] = (
    (InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (ResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (StoreFull, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (StoreUnavailable, grpc.StatusCode.UNAVAILABLE),
    (CentralError, grpc.StatusCode.INTERNAL),
)

F = TypeVar("F", bound=Callable[..., Any])


def code_for(exc: CentralError) -> grpc.StatusCode:
    for kind, code in CODES:
        if isinstance(exc, kind):
            return code
    return grpc.StatusCode.INTERNAL


def abort(context: grpc.ServicerContext, exc: BaseException, method: str) -> NoReturn:
    """End the call for `exc`: its mapped code and message, or INTERNAL for the unexpected."""
    if _already_aborted(context):
        raise exc  # the method called context.abort itself: keep its code
    if isinstance(exc, CentralError):
        code = code_for(exc)
        if code is grpc.StatusCode.UNAVAILABLE or isinstance(exc, StoreFull):
            log.warning("%s: %s", method, exc)
        context.abort(code, str(exc))
    log.error("%s failed", method, exc_info=exc)
    context.abort(grpc.StatusCode.INTERNAL, f"{method}: internal error")
    raise RuntimeError("context.abort returned")  # grpc always raises; keeps mypy sure


def _already_aborted(context: grpc.ServicerContext) -> bool:
    code = getattr(context, "code", None)
    return callable(code) and code() not in (None, grpc.StatusCode.OK)


def grpc_method(func: F) -> F:
    """Map exceptions of a servicer method `(self, request, context)` to gRPC status codes."""
    name = func.__qualname__

    if inspect.isgeneratorfunction(func):

        @functools.wraps(func)
        def stream(self: Any, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            try:
                yield from func(self, request, context)
            except GeneratorExit:
                raise
            except Exception as exc:  # noqa: BLE001 - mapped to a status code
                abort(context, exc, name)

        return cast(F, stream)

    @functools.wraps(func)
    def unary(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return func(self, request, context)
        except Exception as exc:  # noqa: BLE001 - mapped to a status code
            abort(context, exc, name)

    return cast(F, unary)
