from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RadioKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RADIO_KIND_UNSPECIFIED: _ClassVar[RadioKind]
    RADIO_KIND_WIFI: _ClassVar[RadioKind]
    RADIO_KIND_BLE: _ClassVar[RadioKind]
    RADIO_KIND_BT_CLASSIC: _ClassVar[RadioKind]

class AddressKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ADDRESS_KIND_UNSPECIFIED: _ClassVar[AddressKind]
    ADDRESS_KIND_WIFI_GLOBAL: _ClassVar[AddressKind]
    ADDRESS_KIND_WIFI_LOCAL: _ClassVar[AddressKind]
    ADDRESS_KIND_BLE_PUBLIC: _ClassVar[AddressKind]
    ADDRESS_KIND_BLE_RANDOM_STATIC: _ClassVar[AddressKind]
    ADDRESS_KIND_BLE_RESOLVABLE: _ClassVar[AddressKind]
    ADDRESS_KIND_BLE_NON_RESOLVABLE: _ClassVar[AddressKind]
    ADDRESS_KIND_BT_BREDR: _ClassVar[AddressKind]

class DeviceClass(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEVICE_CLASS_UNSPECIFIED: _ClassVar[DeviceClass]
    DEVICE_CLASS_VEHICLE: _ClassVar[DeviceClass]
    DEVICE_CLASS_PERSON: _ClassVar[DeviceClass]
    DEVICE_CLASS_OTHER: _ClassVar[DeviceClass]

class ClockSync(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CLOCK_SYNC_UNKNOWN: _ClassVar[ClockSync]
    CLOCK_SYNC_SYNCED: _ClassVar[ClockSync]
    CLOCK_SYNC_UNSYNCED: _ClassVar[ClockSync]
RADIO_KIND_UNSPECIFIED: RadioKind
RADIO_KIND_WIFI: RadioKind
RADIO_KIND_BLE: RadioKind
RADIO_KIND_BT_CLASSIC: RadioKind
ADDRESS_KIND_UNSPECIFIED: AddressKind
ADDRESS_KIND_WIFI_GLOBAL: AddressKind
ADDRESS_KIND_WIFI_LOCAL: AddressKind
ADDRESS_KIND_BLE_PUBLIC: AddressKind
ADDRESS_KIND_BLE_RANDOM_STATIC: AddressKind
ADDRESS_KIND_BLE_RESOLVABLE: AddressKind
ADDRESS_KIND_BLE_NON_RESOLVABLE: AddressKind
ADDRESS_KIND_BT_BREDR: AddressKind
DEVICE_CLASS_UNSPECIFIED: DeviceClass
DEVICE_CLASS_VEHICLE: DeviceClass
DEVICE_CLASS_PERSON: DeviceClass
DEVICE_CLASS_OTHER: DeviceClass
CLOCK_SYNC_UNKNOWN: ClockSync
CLOCK_SYNC_SYNCED: ClockSync
CLOCK_SYNC_UNSYNCED: ClockSync

class Pass(_message.Message):
    __slots__ = ("ulid", "device_id", "first_ns", "last_ns", "peak_ns", "peak_rssi", "count", "radio", "address_kind", "timestamp_ns", "tagged", "alias", "device_class")
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
    ulid: str
    device_id: str
    first_ns: int
    last_ns: int
    peak_ns: int
    peak_rssi: int
    count: int
    radio: RadioKind
    address_kind: AddressKind
    timestamp_ns: int
    tagged: bool
    alias: bool
    device_class: DeviceClass
    def __init__(self, ulid: _Optional[str] = ..., device_id: _Optional[str] = ..., first_ns: _Optional[int] = ..., last_ns: _Optional[int] = ..., peak_ns: _Optional[int] = ..., peak_rssi: _Optional[int] = ..., count: _Optional[int] = ..., radio: _Optional[_Union[RadioKind, str]] = ..., address_kind: _Optional[_Union[AddressKind, str]] = ..., timestamp_ns: _Optional[int] = ..., tagged: _Optional[bool] = ..., alias: _Optional[bool] = ..., device_class: _Optional[_Union[DeviceClass, str]] = ...) -> None: ...

class Detector(_message.Message):
    __slots__ = ("id", "name", "latitude", "longitude", "radios", "registered_ns")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    LATITUDE_FIELD_NUMBER: _ClassVar[int]
    LONGITUDE_FIELD_NUMBER: _ClassVar[int]
    RADIOS_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_NS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    latitude: float
    longitude: float
    radios: _containers.RepeatedScalarFieldContainer[RadioKind]
    registered_ns: int
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., latitude: _Optional[float] = ..., longitude: _Optional[float] = ..., radios: _Optional[_Iterable[_Union[RadioKind, str]]] = ..., registered_ns: _Optional[int] = ...) -> None: ...

class Link(_message.Message):
    __slots__ = ("src_detector_id", "dest_detector_id", "max_seconds", "length_m", "backfill", "min_speed_kmh", "max_speed_kmh", "outlier_filter", "vehicle_only", "geometry")
    SRC_DETECTOR_ID_FIELD_NUMBER: _ClassVar[int]
    DEST_DETECTOR_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LENGTH_M_FIELD_NUMBER: _ClassVar[int]
    BACKFILL_FIELD_NUMBER: _ClassVar[int]
    MIN_SPEED_KMH_FIELD_NUMBER: _ClassVar[int]
    MAX_SPEED_KMH_FIELD_NUMBER: _ClassVar[int]
    OUTLIER_FILTER_FIELD_NUMBER: _ClassVar[int]
    VEHICLE_ONLY_FIELD_NUMBER: _ClassVar[int]
    GEOMETRY_FIELD_NUMBER: _ClassVar[int]
    src_detector_id: str
    dest_detector_id: str
    max_seconds: int
    length_m: float
    backfill: WindowProgress
    min_speed_kmh: float
    max_speed_kmh: float
    outlier_filter: str
    vehicle_only: bool
    geometry: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, src_detector_id: _Optional[str] = ..., dest_detector_id: _Optional[str] = ..., max_seconds: _Optional[int] = ..., length_m: _Optional[float] = ..., backfill: _Optional[_Union[WindowProgress, _Mapping]] = ..., min_speed_kmh: _Optional[float] = ..., max_speed_kmh: _Optional[float] = ..., outlier_filter: _Optional[str] = ..., vehicle_only: _Optional[bool] = ..., geometry: _Optional[_Iterable[float]] = ...) -> None: ...

class WindowProgress(_message.Message):
    __slots__ = ("windows_left", "windows_total", "oldest_window_ns", "worker", "updated_ns")
    WINDOWS_LEFT_FIELD_NUMBER: _ClassVar[int]
    WINDOWS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    OLDEST_WINDOW_NS_FIELD_NUMBER: _ClassVar[int]
    WORKER_FIELD_NUMBER: _ClassVar[int]
    UPDATED_NS_FIELD_NUMBER: _ClassVar[int]
    windows_left: int
    windows_total: int
    oldest_window_ns: int
    worker: str
    updated_ns: int
    def __init__(self, windows_left: _Optional[int] = ..., windows_total: _Optional[int] = ..., oldest_window_ns: _Optional[int] = ..., worker: _Optional[str] = ..., updated_ns: _Optional[int] = ...) -> None: ...

class SourceStatus(_message.Message):
    __slots__ = ("name", "state", "sightings_per_minute", "restarts", "last_error")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SIGHTINGS_PER_MINUTE_FIELD_NUMBER: _ClassVar[int]
    RESTARTS_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    name: str
    state: str
    sightings_per_minute: float
    restarts: int
    last_error: str
    def __init__(self, name: _Optional[str] = ..., state: _Optional[str] = ..., sightings_per_minute: _Optional[float] = ..., restarts: _Optional[int] = ..., last_error: _Optional[str] = ...) -> None: ...

class AgentStatus(_message.Message):
    __slots__ = ("detector_id", "reported_ns", "buffer_depth", "buffer_bytes", "oldest_unsent_age_s", "last_upload_ns", "sources", "clock_sync", "disk_free_bytes", "dropped_passes", "battery_voltage", "agent_version", "passes_total", "quarantined_databases", "tasks", "lost_passes", "set_aside_rows", "over_budget_sightings", "erased_epoch_sightings", "salvaged_rows", "clock_offset_s", "clock_offset_samples", "clock_flagged")
    DETECTOR_ID_FIELD_NUMBER: _ClassVar[int]
    REPORTED_NS_FIELD_NUMBER: _ClassVar[int]
    BUFFER_DEPTH_FIELD_NUMBER: _ClassVar[int]
    BUFFER_BYTES_FIELD_NUMBER: _ClassVar[int]
    OLDEST_UNSENT_AGE_S_FIELD_NUMBER: _ClassVar[int]
    LAST_UPLOAD_NS_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    CLOCK_SYNC_FIELD_NUMBER: _ClassVar[int]
    DISK_FREE_BYTES_FIELD_NUMBER: _ClassVar[int]
    DROPPED_PASSES_FIELD_NUMBER: _ClassVar[int]
    BATTERY_VOLTAGE_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    PASSES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    QUARANTINED_DATABASES_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    LOST_PASSES_FIELD_NUMBER: _ClassVar[int]
    SET_ASIDE_ROWS_FIELD_NUMBER: _ClassVar[int]
    OVER_BUDGET_SIGHTINGS_FIELD_NUMBER: _ClassVar[int]
    ERASED_EPOCH_SIGHTINGS_FIELD_NUMBER: _ClassVar[int]
    SALVAGED_ROWS_FIELD_NUMBER: _ClassVar[int]
    CLOCK_OFFSET_S_FIELD_NUMBER: _ClassVar[int]
    CLOCK_OFFSET_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    CLOCK_FLAGGED_FIELD_NUMBER: _ClassVar[int]
    detector_id: str
    reported_ns: int
    buffer_depth: int
    buffer_bytes: int
    oldest_unsent_age_s: float
    last_upload_ns: int
    sources: _containers.RepeatedCompositeFieldContainer[SourceStatus]
    clock_sync: ClockSync
    disk_free_bytes: int
    dropped_passes: int
    battery_voltage: float
    agent_version: str
    passes_total: int
    quarantined_databases: int
    tasks: _containers.RepeatedCompositeFieldContainer[TaskStatus]
    lost_passes: int
    set_aside_rows: int
    over_budget_sightings: int
    erased_epoch_sightings: int
    salvaged_rows: int
    clock_offset_s: float
    clock_offset_samples: int
    clock_flagged: bool
    def __init__(self, detector_id: _Optional[str] = ..., reported_ns: _Optional[int] = ..., buffer_depth: _Optional[int] = ..., buffer_bytes: _Optional[int] = ..., oldest_unsent_age_s: _Optional[float] = ..., last_upload_ns: _Optional[int] = ..., sources: _Optional[_Iterable[_Union[SourceStatus, _Mapping]]] = ..., clock_sync: _Optional[_Union[ClockSync, str]] = ..., disk_free_bytes: _Optional[int] = ..., dropped_passes: _Optional[int] = ..., battery_voltage: _Optional[float] = ..., agent_version: _Optional[str] = ..., passes_total: _Optional[int] = ..., quarantined_databases: _Optional[int] = ..., tasks: _Optional[_Iterable[_Union[TaskStatus, _Mapping]]] = ..., lost_passes: _Optional[int] = ..., set_aside_rows: _Optional[int] = ..., over_budget_sightings: _Optional[int] = ..., erased_epoch_sightings: _Optional[int] = ..., salvaged_rows: _Optional[int] = ..., clock_offset_s: _Optional[float] = ..., clock_offset_samples: _Optional[int] = ..., clock_flagged: _Optional[bool] = ...) -> None: ...

class TaskStatus(_message.Message):
    __slots__ = ("name", "state", "restarts", "last_error")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    RESTARTS_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    name: str
    state: str
    restarts: int
    last_error: str
    def __init__(self, name: _Optional[str] = ..., state: _Optional[str] = ..., restarts: _Optional[int] = ..., last_error: _Optional[str] = ...) -> None: ...
