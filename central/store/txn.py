"""Transactions of puts built straight as etcd protobufs and committed side by side.

cslab-etcd3's `transaction()` turns every `transactions.Put` into a PutRequest field by field
and copies it into a RequestOp (about 2.5 us a put, the biggest cost of ingest after etcd
itself). The ingest path builds the TxnRequest here directly, sends it on the client's own
KV stub with the client's timeout and credentials, and maps errors the way the client does
(a failed endpoint is marked for failover; UNAVAILABLE etc. become etcd3 exceptions).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor

import etcd3
import grpc
from etcd3 import etcdrpc

# (key, value, lease id or 0)
Write = tuple[str, bytes, int]


def txn_request(writes: Sequence[Write]) -> etcdrpc.TxnRequest:
    """One transaction that puts every write (no compares): what etcd3's transaction() sends."""
    request = etcdrpc.TxnRequest()
    add = request.success.add
    for key, value, lease in writes:
        put = add().request_put
        put.key = key.encode()
        put.value = value
        if lease:
            put.lease = lease
    return request


def commit(
    client: etcd3.MultiEndpointEtcd3Client,
    requests: Sequence[etcdrpc.TxnRequest],
    pool: Executor | None = None,
) -> None:
    """Send the transactions; return once every one committed. With `pool` they go side by
    side (the calling thread sends the first one itself), without it one after another.

    On failure every started transaction is waited for, then the first error is raised as
    client.transaction() would raise it (etcd3 exception, or the grpc.RpcError itself).
    Blocking calls: a gRPC future costs about 200 us more CPU per call here.
    """
    def send(request: etcdrpc.TxnRequest) -> grpc.RpcError | None:
        try:
            client.kvstub.Txn(
                request, client.timeout, credentials=client.call_credentials,
                metadata=client.metadata,
            )
        except grpc.RpcError as exc:
            return exc
        return None

    if pool is None or len(requests) == 1:
        for request in requests:
            error = send(request)
            if error is not None:
                _raise_as_client(client, error)
        return
    futures = [pool.submit(send, request) for request in requests[1:]]
    errors = [send(requests[0])] + [f.result() for f in futures]
    for error in errors:
        if error is not None:
            _raise_as_client(client, error)


def _raise_as_client(client: etcd3.MultiEndpointEtcd3Client, error: grpc.RpcError) -> None:
    try:
        raise error
    except grpc.RpcError as exc:
        # the client's own handler: fails the endpoint over, re-raises or maps the code
        client._manage_grpc_errors(exc)
        raise
