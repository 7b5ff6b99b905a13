"""Reading a key range of any size from etcd, a page at a time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import etcd3.exceptions
import grpc

from roadside.central.errors import StoreUnavailable

PAGE_SIZE = 5000  # keys per range read: well under gRPC's 4 MiB message limit
ETCD_ERRORS = (etcd3.exceptions.Etcd3Exception, grpc.RpcError)


def range_pages(
    client: Any, start: str, end: str, keys_only: bool = False, revision: int = 0,
    page_keys: int = PAGE_SIZE,
) -> Iterator[tuple[bytes, bytes, int]]:
    """(key, value, mod_revision) of every key in [start, end), read in pages.

    With a revision, every page reads the store as it was then (one consistent view).
    """
    begin = start.encode()
    stop = end.encode()
    at = revision or None
    while True:
        try:
            resp = client.get_range_response(
                begin, stop, sort_order="ascend", limit=page_keys, keys_only=keys_only,
                revision=at,
            )
        except ETCD_ERRORS as exc:
            raise StoreUnavailable(f"etcd range read failed: {exc}") from exc
        for kv in resp.kvs:
            yield kv.key, kv.value, kv.mod_revision
        if not resp.more or not resp.kvs:
            return
        begin = resp.kvs[-1].key + b"\0"
