"""roadside.v1 QueryService: what operators read from central (events, detectors, links, status)."""

from __future__ import annotations

from central.etcd_store import EtcdStore
from proto.roadside.v1 import query_pb2_grpc


class QueryServicer(query_pb2_grpc.QueryServiceServicer):
    """Serves roadside.v1 queries from an EtcdStore (travel-time methods are added elsewhere)."""

    def __init__(self, store: EtcdStore) -> None:
        self.store = store
