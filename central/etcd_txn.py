"""Transactions of puts built straight as etcd protobufs and committed side by side.

cslab-etcd3's `transaction()` turns every `transactions.Put` into a PutRequest field by field
and copies it into a RequestOp (about 2.5 us a put, the biggest cost of ingest after etcd
itself). The ingest path builds the TxnRequest here directly, sends it on the client's own
KV stub with the client's timeout and credentials, and maps errors the way the client does
(a failed endpoint is marked for failover; UNAVAILABLE etc. become etcd3 exceptions).
Transactions go out as gRPC futures: no Python thread per transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

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
    parallel: int,
) -> None:
    """Send the transactions, at most `parallel` in flight; return once every one committed.

    On failure every sent transaction is waited for, then the first error is raised as
    client.transaction() would raise it (etcd3 exception, or the grpc.RpcError itself).
    """
    pending: list[grpc.Future] = []
    errors: list[grpc.RpcError] = []

    def settle(future: grpc.Future) -> None:
        try:
            future.result()
        except grpc.RpcError as exc:
            errors.append(exc)

    for request in requests:
        if len(pending) >= parallel:
            settle(pending.pop(0))
        if errors:
            break
        pending.append(client.kvstub.Txn.future(
            request, client.timeout, credentials=client.call_credentials,
            metadata=client.metadata,
        ))
    for future in pending:
        settle(future)
    if errors:
        _raise_as_client(client, errors[0])


def _raise_as_client(client: etcd3.MultiEndpointEtcd3Client, error: grpc.RpcError) -> None:
    try:
        raise error
    except grpc.RpcError as exc:
        # the client's own handler: fails the endpoint over, re-raises or maps the code
        client._manage_grpc_errors(exc)
        raise
