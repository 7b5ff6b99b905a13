from roadside.proto.v1 import types_pb2 as _types_pb2
from roadside.proto.v1 import collector_pb2 as _collector_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListAuditRequest(_message.Message):
    __slots__ = ("since_ns", "limit")
    SINCE_NS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    since_ns: int
    limit: int
    def __init__(self, since_ns: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class AuditEntry(_message.Message):
    __slots__ = ("at_ns", "who", "method", "what")
    AT_NS_FIELD_NUMBER: _ClassVar[int]
    WHO_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    WHAT_FIELD_NUMBER: _ClassVar[int]
    at_ns: int
    who: str
    method: str
    what: str
    def __init__(self, at_ns: _Optional[int] = ..., who: _Optional[str] = ..., method: _Optional[str] = ..., what: _Optional[str] = ...) -> None: ...

class ListAuditResponse(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[AuditEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[AuditEntry, _Mapping]]] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("detector_id",)
    DETECTOR_ID_FIELD_NUMBER: _ClassVar[int]
    PASS_FIELD_NUMBER: _ClassVar[int]
    detector_id: str
    def __init__(self, detector_id: _Optional[str] = ..., **kwargs) -> None: ...

class EventColumns(_message.Message):
    __slots__ = ("detector_ids", "detector", "ulid", "device_id", "first_ns", "last_ns", "peak_ns", "peak_rssi", "count", "radio", "address_kind", "timestamp_ns", "tagged", "alias", "device_class")
    DETECTOR_IDS_FIELD_NUMBER: _ClassVar[int]
    DETECTOR_FIELD_NUMBER: _ClassVar[int]
    ULID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    FIRST_NS_FIELD_NUMBER: _ClassVar[int]
    LAST_NS_FIELD_NUMBER: _ClassVar[int]
    PEAK_NS_FIELD_NUMBER: _ClassVar[int]
    PEAK_RSSI_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    RADIO_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_KIND_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_NS_FIELD_NUMBER: _ClassVar[int]
    TAGGED_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    DEVICE_CLASS_FIELD_NUMBER: _ClassVar[int]
    detector_ids: _containers.RepeatedScalarFieldContainer[str]
    detector: _containers.RepeatedScalarFieldContainer[int]
    ulid: _containers.RepeatedScalarFieldContainer[str]
    device_id: _containers.RepeatedScalarFieldContainer[str]
    first_ns: _containers.RepeatedScalarFieldContainer[int]
    last_ns: _containers.RepeatedScalarFieldContainer[int]
    peak_ns: _containers.RepeatedScalarFieldContainer[int]
    peak_rssi: _containers.RepeatedScalarFieldContainer[int]
    count: _containers.RepeatedScalarFieldContainer[int]
    radio: _containers.RepeatedScalarFieldContainer[_types_pb2.RadioKind]
    address_kind: _containers.RepeatedScalarFieldContainer[_types_pb2.AddressKind]
    timestamp_ns: _containers.RepeatedScalarFieldContainer[int]
    tagged: _containers.RepeatedScalarFieldContainer[bool]
    alias: _containers.RepeatedScalarFieldContainer[bool]
    device_class: _containers.RepeatedScalarFieldContainer[_types_pb2.DeviceClass]
    def __init__(self, detector_ids: _Optional[_Iterable[str]] = ..., detector: _Optional[_Iterable[int]] = ..., ulid: _Optional[_Iterable[str]] = ..., device_id: _Optional[_Iterable[str]] = ..., first_ns: _Optional[_Iterable[int]] = ..., last_ns: _Optional[_Iterable[int]] = ..., peak_ns: _Optional[_Iterable[int]] = ..., peak_rssi: _Optional[_Iterable[int]] = ..., count: _Optional[_Iterable[int]] = ..., radio: _Optional[_Iterable[_Union[_types_pb2.RadioKind, str]]] = ..., address_kind: _Optional[_Iterable[_Union[_types_pb2.AddressKind, str]]] = ..., timestamp_ns: _Optional[_Iterable[int]] = ..., tagged: _Optional[_Iterable[bool]] = ..., alias: _Optional[_Iterable[bool]] = ..., device_class: _Optional[_Iterable[_Union[_types_pb2.DeviceClass, str]]] = ...) -> None: ...

class GetEventsRequest(_message.Message):
    __slots__ = ("detector_ids", "since_ns", "until_ns", "limit", "page_token")
    DETECTOR_IDS_FIELD_NUMBER: _ClassVar[int]
    SINCE_NS_FIELD_NUMBER: _ClassVar[int]
    UNTIL_NS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    detector_ids: _containers.RepeatedScalarFieldContainer[str]
    since_ns: int
    until_ns: int
    limit: int
    page_token: str
    def __init__(self, detector_ids: _Optional[_Iterable[str]] = ..., since_ns: _Optional[int] = ..., until_ns: _Optional[int] = ..., limit: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class GetEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[Event]
    next_page_token: str
    def __init__(self, events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class StreamEventsRequest(_message.Message):
    __slots__ = ("detector_ids", "since_ns", "until_ns", "follow")
    DETECTOR_IDS_FIELD_NUMBER: _ClassVar[int]
    SINCE_NS_FIELD_NUMBER: _ClassVar[int]
    UNTIL_NS_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    detector_ids: _containers.RepeatedScalarFieldContainer[str]
    since_ns: int
    until_ns: int
    follow: bool
    def __init__(self, detector_ids: _Optional[_Iterable[str]] = ..., since_ns: _Optional[int] = ..., until_ns: _Optional[int] = ..., follow: _Optional[bool] = ...) -> None: ...

class ListDetectorsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListDetectorsResponse(_message.Message):
    __slots__ = ("detectors",)
    DETECTORS_FIELD_NUMBER: _ClassVar[int]
    detectors: _containers.RepeatedCompositeFieldContainer[_types_pb2.Detector]
    def __init__(self, detectors: _Optional[_Iterable[_Union[_types_pb2.Detector, _Mapping]]] = ...) -> None: ...

class GetLinksRequest(_message.Message):
    __slots__ = ("dest_detector_id",)
    DEST_DETECTOR_ID_FIELD_NUMBER: _ClassVar[int]
    dest_detector_id: str
    def __init__(self, dest_detector_id: _Optional[str] = ...) -> None: ...

class GetLinksResponse(_message.Message):
    __slots__ = ("links",)
    LINKS_FIELD_NUMBER: _ClassVar[int]
    links: _containers.RepeatedCompositeFieldContainer[_types_pb2.Link]
    def __init__(self, links: _Optional[_Iterable[_Union[_types_pb2.Link, _Mapping]]] = ...) -> None: ...

class GetStatusRequest(_message.Message):
    __slots__ = ("detector_ids",)
    DETECTOR_IDS_FIELD_NUMBER: _ClassVar[int]
    detector_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, detector_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class GetStatusResponse(_message.Message):
    __slots__ = ("statuses",)
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    statuses: _containers.RepeatedCompositeFieldContainer[_types_pb2.AgentStatus]
    def __init__(self, statuses: _Optional[_Iterable[_Union[_types_pb2.AgentStatus, _Mapping]]] = ...) -> None: ...

class ListRoutesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListRoutesResponse(_message.Message):
    __slots__ = ("routes",)
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    routes: _containers.RepeatedCompositeFieldContainer[_collector_pb2.Route]
    def __init__(self, routes: _Optional[_Iterable[_Union[_collector_pb2.Route, _Mapping]]] = ...) -> None: ...

class LinkRef(_message.Message):
    __slots__ = ("src_detector_id", "dest_detector_id")
    SRC_DETECTOR_ID_FIELD_NUMBER: _ClassVar[int]
    DEST_DETECTOR_ID_FIELD_NUMBER: _ClassVar[int]
    src_detector_id: str
    dest_detector_id: str
    def __init__(self, src_detector_id: _Optional[str] = ..., dest_detector_id: _Optional[str] = ...) -> None: ...

class GetTravelTimesRequest(_message.Message):
    __slots__ = ("link", "route", "since_ns", "until_ns", "include_samples", "follow", "live")
    LINK_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    SINCE_NS_FIELD_NUMBER: _ClassVar[int]
    UNTIL_NS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    LIVE_FIELD_NUMBER: _ClassVar[int]
    link: LinkRef
    route: str
    since_ns: int
    until_ns: int
    include_samples: bool
    follow: bool
    live: bool
    def __init__(self, link: _Optional[_Union[LinkRef, _Mapping]] = ..., route: _Optional[str] = ..., since_ns: _Optional[int] = ..., until_ns: _Optional[int] = ..., include_samples: _Optional[bool] = ..., follow: _Optional[bool] = ..., live: _Optional[bool] = ...) -> None: ...

class Rejection(_message.Message):
    __slots__ = ("reason", "count")
    REASON_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    reason: str
    count: int
    def __init__(self, reason: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class TravelTimeWindow(_message.Message):
    __slots__ = ("src_detector_id", "dest_detector_id", "route", "window_start_ns", "window_end_ns", "count", "suppressed", "median_s", "p10_s", "p25_s", "p75_s", "p90_s", "mad_s", "rejections", "samples_s", "computed_ns", "no_data", "normal_s", "samples_by_class", "samples_by_address_kind", "vehicle_only", "clock_corrected_s", "clock_excluded", "provisional")
    class SamplesByClassEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class SamplesByAddressKindEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class ClockCorrectedSEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    SRC_DETECTOR_ID_FIELD_NUMBER: _ClassVar[int]
    DEST_DETECTOR_ID_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_NS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_NS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    MEDIAN_S_FIELD_NUMBER: _ClassVar[int]
    P10_S_FIELD_NUMBER: _ClassVar[int]
    P25_S_FIELD_NUMBER: _ClassVar[int]
    P75_S_FIELD_NUMBER: _ClassVar[int]
    P90_S_FIELD_NUMBER: _ClassVar[int]
    MAD_S_FIELD_NUMBER: _ClassVar[int]
    REJECTIONS_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_S_FIELD_NUMBER: _ClassVar[int]
    COMPUTED_NS_FIELD_NUMBER: _ClassVar[int]
    NO_DATA_FIELD_NUMBER: _ClassVar[int]
    NORMAL_S_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_BY_CLASS_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_BY_ADDRESS_KIND_FIELD_NUMBER: _ClassVar[int]
    VEHICLE_ONLY_FIELD_NUMBER: _ClassVar[int]
    CLOCK_CORRECTED_S_FIELD_NUMBER: _ClassVar[int]
    CLOCK_EXCLUDED_FIELD_NUMBER: _ClassVar[int]
    PROVISIONAL_FIELD_NUMBER: _ClassVar[int]
    src_detector_id: str
    dest_detector_id: str
    route: str
    window_start_ns: int
    window_end_ns: int
    count: int
    suppressed: bool
    median_s: float
    p10_s: float
    p25_s: float
    p75_s: float
    p90_s: float
    mad_s: float
    rejections: _containers.RepeatedCompositeFieldContainer[Rejection]
    samples_s: _containers.RepeatedScalarFieldContainer[float]
    computed_ns: int
    no_data: bool
    normal_s: float
    samples_by_class: _containers.ScalarMap[str, int]
    samples_by_address_kind: _containers.ScalarMap[str, int]
    vehicle_only: bool
    clock_corrected_s: _containers.ScalarMap[str, float]
    clock_excluded: _containers.RepeatedScalarFieldContainer[str]
    provisional: bool
    def __init__(self, src_detector_id: _Optional[str] = ..., dest_detector_id: _Optional[str] = ..., route: _Optional[str] = ..., window_start_ns: _Optional[int] = ..., window_end_ns: _Optional[int] = ..., count: _Optional[int] = ..., suppressed: _Optional[bool] = ..., median_s: _Optional[float] = ..., p10_s: _Optional[float] = ..., p25_s: _Optional[float] = ..., p75_s: _Optional[float] = ..., p90_s: _Optional[float] = ..., mad_s: _Optional[float] = ..., rejections: _Optional[_Iterable[_Union[Rejection, _Mapping]]] = ..., samples_s: _Optional[_Iterable[float]] = ..., computed_ns: _Optional[int] = ..., no_data: _Optional[bool] = ..., normal_s: _Optional[float] = ..., samples_by_class: _Optional[_Mapping[str, int]] = ..., samples_by_address_kind: _Optional[_Mapping[str, int]] = ..., vehicle_only: _Optional[bool] = ..., clock_corrected_s: _Optional[_Mapping[str, float]] = ..., clock_excluded: _Optional[_Iterable[str]] = ..., provisional: _Optional[bool] = ...) -> None: ...

class GetTravelTimesResponse(_message.Message):
    __slots__ = ("windows", "workers", "backfill")
    WINDOWS_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    BACKFILL_FIELD_NUMBER: _ClassVar[int]
    windows: _containers.RepeatedCompositeFieldContainer[TravelTimeWindow]
    workers: int
    backfill: _types_pb2.WindowProgress
    def __init__(self, windows: _Optional[_Iterable[_Union[TravelTimeWindow, _Mapping]]] = ..., workers: _Optional[int] = ..., backfill: _Optional[_Union[_types_pb2.WindowProgress, _Mapping]] = ...) -> None: ...
