from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PassBlock(_message.Message):
    __slots__ = ("version", "bucket_ns", "radios", "address_kinds", "passes")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    BUCKET_NS_FIELD_NUMBER: _ClassVar[int]
    RADIOS_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_KINDS_FIELD_NUMBER: _ClassVar[int]
    PASSES_FIELD_NUMBER: _ClassVar[int]
    version: int
    bucket_ns: int
    radios: _containers.RepeatedScalarFieldContainer[str]
    address_kinds: _containers.RepeatedScalarFieldContainer[str]
    passes: _containers.RepeatedCompositeFieldContainer[PackedPass]
    def __init__(self, version: _Optional[int] = ..., bucket_ns: _Optional[int] = ..., radios: _Optional[_Iterable[str]] = ..., address_kinds: _Optional[_Iterable[str]] = ..., passes: _Optional[_Iterable[_Union[PackedPass, _Mapping]]] = ...) -> None: ...

class PackedPass(_message.Message):
    __slots__ = ("ulid", "device", "device_text", "timestamp_offset_ns", "first_before_ns", "last_after_ns", "peak_offset_ns", "peak_rssi", "count", "radio", "address_kind", "tagged", "alias", "device_class")
    ULID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_TEXT_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_OFFSET_NS_FIELD_NUMBER: _ClassVar[int]
    FIRST_BEFORE_NS_FIELD_NUMBER: _ClassVar[int]
    LAST_AFTER_NS_FIELD_NUMBER: _ClassVar[int]
    PEAK_OFFSET_NS_FIELD_NUMBER: _ClassVar[int]
    PEAK_RSSI_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    RADIO_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_KIND_FIELD_NUMBER: _ClassVar[int]
    TAGGED_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    DEVICE_CLASS_FIELD_NUMBER: _ClassVar[int]
    ulid: bytes
    device: bytes
    device_text: bool
    timestamp_offset_ns: int
    first_before_ns: int
    last_after_ns: int
    peak_offset_ns: int
    peak_rssi: int
    count: int
    radio: int
    address_kind: int
    tagged: bool
    alias: bool
    device_class: int
    def __init__(self, ulid: _Optional[bytes] = ..., device: _Optional[bytes] = ..., device_text: _Optional[bool] = ..., timestamp_offset_ns: _Optional[int] = ..., first_before_ns: _Optional[int] = ..., last_after_ns: _Optional[int] = ..., peak_offset_ns: _Optional[int] = ..., peak_rssi: _Optional[int] = ..., count: _Optional[int] = ..., radio: _Optional[int] = ..., address_kind: _Optional[int] = ..., tagged: _Optional[bool] = ..., alias: _Optional[bool] = ..., device_class: _Optional[int] = ...) -> None: ...

class WindowBlock(_message.Message):
    __slots__ = ("version", "hour_s", "window_s", "empty_offsets_s", "empty_revision", "empty_computed_ns", "windows", "src", "dest", "route", "workers", "empty_workers")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    HOUR_S_FIELD_NUMBER: _ClassVar[int]
    WINDOW_S_FIELD_NUMBER: _ClassVar[int]
    EMPTY_OFFSETS_S_FIELD_NUMBER: _ClassVar[int]
    EMPTY_REVISION_FIELD_NUMBER: _ClassVar[int]
    EMPTY_COMPUTED_NS_FIELD_NUMBER: _ClassVar[int]
    WINDOWS_FIELD_NUMBER: _ClassVar[int]
    SRC_FIELD_NUMBER: _ClassVar[int]
    DEST_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    EMPTY_WORKERS_FIELD_NUMBER: _ClassVar[int]
    version: int
    hour_s: int
    window_s: int
    empty_offsets_s: _containers.RepeatedScalarFieldContainer[int]
    empty_revision: int
    empty_computed_ns: int
    windows: _containers.RepeatedCompositeFieldContainer[StoredWindow]
    src: str
    dest: str
    route: str
    workers: _containers.RepeatedScalarFieldContainer[str]
    empty_workers: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, version: _Optional[int] = ..., hour_s: _Optional[int] = ..., window_s: _Optional[int] = ..., empty_offsets_s: _Optional[_Iterable[int]] = ..., empty_revision: _Optional[int] = ..., empty_computed_ns: _Optional[int] = ..., windows: _Optional[_Iterable[_Union[StoredWindow, _Mapping]]] = ..., src: _Optional[str] = ..., dest: _Optional[str] = ..., route: _Optional[str] = ..., workers: _Optional[_Iterable[str]] = ..., empty_workers: _Optional[_Iterable[int]] = ...) -> None: ...

class StoredWindow(_message.Message):
    __slots__ = ("offset_s", "length_s", "computed_ns", "source_revision", "worker", "count", "devices", "suppressed", "unmatched", "rejections", "has_figures", "median_s", "p10_s", "p25_s", "p75_s", "p90_s", "mad_s", "samples_ms", "by_class", "by_address_kind", "vehicle_only", "clock_corrected", "clock_excluded")
    class RejectionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class ByClassEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class ByAddressKindEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class ClockCorrectedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    OFFSET_S_FIELD_NUMBER: _ClassVar[int]
    LENGTH_S_FIELD_NUMBER: _ClassVar[int]
    COMPUTED_NS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_REVISION_FIELD_NUMBER: _ClassVar[int]
    WORKER_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    UNMATCHED_FIELD_NUMBER: _ClassVar[int]
    REJECTIONS_FIELD_NUMBER: _ClassVar[int]
    HAS_FIGURES_FIELD_NUMBER: _ClassVar[int]
    MEDIAN_S_FIELD_NUMBER: _ClassVar[int]
    P10_S_FIELD_NUMBER: _ClassVar[int]
    P25_S_FIELD_NUMBER: _ClassVar[int]
    P75_S_FIELD_NUMBER: _ClassVar[int]
    P90_S_FIELD_NUMBER: _ClassVar[int]
    MAD_S_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_MS_FIELD_NUMBER: _ClassVar[int]
    BY_CLASS_FIELD_NUMBER: _ClassVar[int]
    BY_ADDRESS_KIND_FIELD_NUMBER: _ClassVar[int]
    VEHICLE_ONLY_FIELD_NUMBER: _ClassVar[int]
    CLOCK_CORRECTED_FIELD_NUMBER: _ClassVar[int]
    CLOCK_EXCLUDED_FIELD_NUMBER: _ClassVar[int]
    offset_s: int
    length_s: int
    computed_ns: int
    source_revision: int
    worker: int
    count: int
    devices: int
    suppressed: bool
    unmatched: int
    rejections: _containers.ScalarMap[str, int]
    has_figures: bool
    median_s: float
    p10_s: float
    p25_s: float
    p75_s: float
    p90_s: float
    mad_s: float
    samples_ms: _containers.RepeatedScalarFieldContainer[int]
    by_class: _containers.ScalarMap[str, int]
    by_address_kind: _containers.ScalarMap[str, int]
    vehicle_only: bool
    clock_corrected: _containers.ScalarMap[str, float]
    clock_excluded: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, offset_s: _Optional[int] = ..., length_s: _Optional[int] = ..., computed_ns: _Optional[int] = ..., source_revision: _Optional[int] = ..., worker: _Optional[int] = ..., count: _Optional[int] = ..., devices: _Optional[int] = ..., suppressed: _Optional[bool] = ..., unmatched: _Optional[int] = ..., rejections: _Optional[_Mapping[str, int]] = ..., has_figures: _Optional[bool] = ..., median_s: _Optional[float] = ..., p10_s: _Optional[float] = ..., p25_s: _Optional[float] = ..., p75_s: _Optional[float] = ..., p90_s: _Optional[float] = ..., mad_s: _Optional[float] = ..., samples_ms: _Optional[_Iterable[int]] = ..., by_class: _Optional[_Mapping[str, int]] = ..., by_address_kind: _Optional[_Mapping[str, int]] = ..., vehicle_only: _Optional[bool] = ..., clock_corrected: _Optional[_Mapping[str, float]] = ..., clock_excluded: _Optional[_Iterable[str]] = ...) -> None: ...
