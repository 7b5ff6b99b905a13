"""Until central/grpc_errors.py lands: central errors -> gRPC status for the query servicers."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import grpc

from central.errors import CentralError, InvalidArgument, NotFound, StoreUnavailable

log = logging.getLogger(__name__)

_CODES: dict[type[CentralError], grpc.StatusCode] = {
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    StoreUnavailable: grpc.StatusCode.UNAVAILABLE,
}


@contextlib.contextmanager
def abort_on_error(context: grpc.ServicerContext) -> Iterator[None]:
    try:
        yield
    except CentralError as exc:
        code = _CODES.get(type(exc), grpc.StatusCode.INTERNAL)
        log.info("query refused (%s): %s", code.name, exc)
        context.abort(code, str(exc))
