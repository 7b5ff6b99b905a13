"""The Store on etcd: every read and write central makes, in the layout of central/keys.py.

Event range reads, paging and watches live in central/event_reads.py, on the same client.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import etcd3

from central.records import DetectorRecord, LinkRecord, RouteRecord, StoredPass

MAX_TXN_OPS = 128  # etcd's default --max-txn-ops
DEFAULT_NAMESPACE = "tdc"  # as the original system


class EtcdStore:
    """Owns nothing but the client it is given; central/server.py builds and closes it."""

    def __init__(
        self,
        client: etcd3.MultiEndpointEtcd3Client,
        namespace: str = DEFAULT_NAMESPACE,
        retention_days: float = 7.0,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.retention_days = retention_days

    # writes ---------------------------------------------------------------

    def put_passes(self, passes: Sequence[StoredPass]) -> int:
        """Commit detections (leased for retention) and their dirty markers; returns the count.

        Transactions of at most MAX_TXN_OPS operations, under the request-size limit.
        Idempotent: the same passes again rewrite the same keys. Raises StoreUnavailable.
        """
        raise NotImplementedError

    def register_detector(self, detector: DetectorRecord) -> DetectorRecord:
        raise NotImplementedError

    def set_links(self, dest: str, sources: Sequence[LinkRecord]) -> list[LinkRecord]:
        """Replace dest's incoming links with `sources` in one transaction."""
        raise NotImplementedError

    def put_status(self, detector_id: str, status: dict[str, Any], reported_ns: int) -> None:
        """Store an agent status report (protobuf JSON dict) as latest and in history."""
        raise NotImplementedError

    def set_route(self, route: RouteRecord) -> RouteRecord:
        raise NotImplementedError

    # reads ----------------------------------------------------------------

    def get_detector(self, detector_id: str) -> DetectorRecord | None:
        raise NotImplementedError

    def list_detectors(self) -> list[DetectorRecord]:
        raise NotImplementedError

    def links(self, dest: str | None = None) -> list[LinkRecord]:
        """All links, or those into `dest`."""
        raise NotImplementedError

    def statuses(self, detector_ids: Sequence[str] = ()) -> list[dict[str, Any]]:
        """The latest status report of each detector (all when empty)."""
        raise NotImplementedError

    def status_history(
        self, detector_id: str, since_ns: int = 0, until_ns: int = 0, limit: int = 0
    ) -> list[dict[str, Any]]:
        raise NotImplementedError

    def routes(self) -> list[RouteRecord]:
        raise NotImplementedError

    def healthy(self) -> bool:
        """etcd answers and has no NOSPACE alarm."""
        raise NotImplementedError
