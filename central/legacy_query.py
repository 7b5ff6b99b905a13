"""The original `query` package's QueryService, served on roadside's data."""

from __future__ import annotations

from central.etcd_store import EtcdStore
from proto.query import query_pb2_grpc


class LegacyQueryServicer(query_pb2_grpc.QueryServiceServicer):
    """GetEvents, StreamEvents and GetBatteryVoltage of the original system."""

    def __init__(self, store: EtcdStore) -> None:
        self.store = store
