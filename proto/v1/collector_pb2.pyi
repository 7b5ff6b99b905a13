from roadside.proto.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UploadBatchRequest(_message.Message):
    __slots__ = ("detector_id", "batch_id", "passes", "sent_ns")
    DETECTOR_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    PASSES_FIELD_NUMBER: _ClassVar[int]
    SENT_NS_FIELD_NUMBER: _ClassVar[int]
    detector_id: str
    batch_id: str
    passes: _containers.RepeatedCompositeFieldContainer[_types_pb2.Pass]
    sent_ns: int
    def __init__(self, detector_id: _Optional[str] = ..., batch_id: _Optional[str] = ..., passes: _Optional[_Iterable[_Union[_types_pb2.Pass, _Mapping]]] = ..., sent_ns: _Optional[int] = ...) -> None: ...

class UploadBatchResponse(_message.Message):
    __slots__ = ("batch_id", "stored")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    STORED_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    stored: int
    def __init__(self, batch_id: _Optional[str] = ..., stored: _Optional[int] = ...) -> None: ...

class RegisterDetectorRequest(_message.Message):
    __slots__ = ("detector",)
    DETECTOR_FIELD_NUMBER: _ClassVar[int]
    detector: _types_pb2.Detector
    def __init__(self, detector: _Optional[_Union[_types_pb2.Detector, _Mapping]] = ...) -> None: ...

class RegisterDetectorResponse(_message.Message):
    __slots__ = ("detector",)
    DETECTOR_FIELD_NUMBER: _ClassVar[int]
    detector: _types_pb2.Detector
    def __init__(self, detector: _Optional[_Union[_types_pb2.Detector, _Mapping]] = ...) -> None: ...

class LinkSource(_message.Message):
    __slots__ = ("src_detector_id", "max_seconds", "length_m", "min_speed_kmh", "max_speed_kmh", "outlier_filter", "vehicle_only", "geometry")
    SRC_DETECTOR_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LENGTH_M_FIELD_NUMBER: _ClassVar[int]
    MIN_SPEED_KMH_FIELD_NUMBER: _ClassVar[int]
    MAX_SPEED_KMH_FIELD_NUMBER: _ClassVar[int]
    OUTLIER_FILTER_FIELD_NUMBER: _ClassVar[int]
    VEHICLE_ONLY_FIELD_NUMBER: _ClassVar[int]
    GEOMETRY_FIELD_NUMBER: _ClassVar[int]
    src_detector_id: str
    max_seconds: int
    length_m: float
    min_speed_kmh: float
    max_speed_kmh: float
    outlier_filter: str
    vehicle_only: bool
    geometry: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, src_detector_id: _Optional[str] = ..., max_seconds: _Optional[int] = ..., length_m: _Optional[float] = ..., min_speed_kmh: _Optional[float] = ..., max_speed_kmh: _Optional[float] = ..., outlier_filter: _Optional[str] = ..., vehicle_only: _Optional[bool] = ..., geometry: _Optional[_Iterable[float]] = ...) -> None: ...

class SetLinksRequest(_message.Message):
    __slots__ = ("dest_detector_id", "sources")
    DEST_DETECTOR_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    dest_detector_id: str
    sources: _containers.RepeatedCompositeFieldContainer[LinkSource]
    def __init__(self, dest_detector_id: _Optional[str] = ..., sources: _Optional[_Iterable[_Union[LinkSource, _Mapping]]] = ...) -> None: ...

class SetLinksResponse(_message.Message):
    __slots__ = ("links",)
    LINKS_FIELD_NUMBER: _ClassVar[int]
    links: _containers.RepeatedCompositeFieldContainer[_types_pb2.Link]
    def __init__(self, links: _Optional[_Iterable[_Union[_types_pb2.Link, _Mapping]]] = ...) -> None: ...

class ReportStatusRequest(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: _types_pb2.AgentStatus
    def __init__(self, status: _Optional[_Union[_types_pb2.AgentStatus, _Mapping]] = ...) -> None: ...

class ReportStatusResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Route(_message.Message):
    __slots__ = ("name", "detector_ids", "backfill")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DETECTOR_IDS_FIELD_NUMBER: _ClassVar[int]
    BACKFILL_FIELD_NUMBER: _ClassVar[int]
    name: str
    detector_ids: _containers.RepeatedScalarFieldContainer[str]
    backfill: _types_pb2.WindowProgress
    def __init__(self, name: _Optional[str] = ..., detector_ids: _Optional[_Iterable[str]] = ..., backfill: _Optional[_Union[_types_pb2.WindowProgress, _Mapping]] = ...) -> None: ...

class SetRouteRequest(_message.Message):
    __slots__ = ("route",)
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    route: Route
    def __init__(self, route: _Optional[_Union[Route, _Mapping]] = ...) -> None: ...

class SetRouteResponse(_message.Message):
    __slots__ = ("route",)
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    route: Route
    def __init__(self, route: _Optional[_Union[Route, _Mapping]] = ...) -> None: ...
