import datetime

from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DEVICE(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEVICE_UNKNOWN: _ClassVar[DEVICE]
    MOBILE: _ClassVar[DEVICE]
    WIFI: _ClassVar[DEVICE]
    BLUETOOTH: _ClassVar[DEVICE]
DEVICE_UNKNOWN: DEVICE
MOBILE: DEVICE
WIFI: DEVICE
BLUETOOTH: DEVICE

class Coordinates(_message.Message):
    __slots__ = ("detector_id", "latitude", "longitude")
    DETECTOR_ID_FIELD_NUMBER: _ClassVar[int]
    LATITUDE_FIELD_NUMBER: _ClassVar[int]
    LONGITUDE_FIELD_NUMBER: _ClassVar[int]
    detector_id: str
    latitude: int
    longitude: int
    def __init__(self, detector_id: _Optional[str] = ..., latitude: _Optional[int] = ..., longitude: _Optional[int] = ...) -> None: ...

class DetectionEvent(_message.Message):
    __slots__ = ("time", "wifi", "bluetooth", "mobile")
    TIME_FIELD_NUMBER: _ClassVar[int]
    WIFI_FIELD_NUMBER: _ClassVar[int]
    BLUETOOTH_FIELD_NUMBER: _ClassVar[int]
    MOBILE_FIELD_NUMBER: _ClassVar[int]
    time: _containers.RepeatedCompositeFieldContainer[_timestamp_pb2.Timestamp]
    wifi: str
    bluetooth: str
    mobile: str
    def __init__(self, time: _Optional[_Iterable[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]]] = ..., wifi: _Optional[str] = ..., bluetooth: _Optional[str] = ..., mobile: _Optional[str] = ...) -> None: ...

class EventLog(_message.Message):
    __slots__ = ("loc", "events")
    LOC_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    loc: Coordinates
    events: _containers.RepeatedCompositeFieldContainer[DetectionEvent]
    def __init__(self, loc: _Optional[_Union[Coordinates, _Mapping]] = ..., events: _Optional[_Iterable[_Union[DetectionEvent, _Mapping]]] = ...) -> None: ...

class DetectorStatus(_message.Message):
    __slots__ = ("loc", "active_detectors", "battery_voltage", "detection_count")
    class DetectionCountEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: int
        def __init__(self, key: _Optional[int] = ..., value: _Optional[int] = ...) -> None: ...
    LOC_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_DETECTORS_FIELD_NUMBER: _ClassVar[int]
    BATTERY_VOLTAGE_FIELD_NUMBER: _ClassVar[int]
    DETECTION_COUNT_FIELD_NUMBER: _ClassVar[int]
    loc: Coordinates
    active_detectors: _containers.RepeatedScalarFieldContainer[DEVICE]
    battery_voltage: float
    detection_count: _containers.ScalarMap[int, int]
    def __init__(self, loc: _Optional[_Union[Coordinates, _Mapping]] = ..., active_detectors: _Optional[_Iterable[_Union[DEVICE, str]]] = ..., battery_voltage: _Optional[float] = ..., detection_count: _Optional[_Mapping[int, int]] = ...) -> None: ...

class SendStreamResponse(_message.Message):
    __slots__ = ("mobile", "bluetooth", "wifi")
    MOBILE_FIELD_NUMBER: _ClassVar[int]
    BLUETOOTH_FIELD_NUMBER: _ClassVar[int]
    WIFI_FIELD_NUMBER: _ClassVar[int]
    mobile: int
    bluetooth: int
    wifi: int
    def __init__(self, mobile: _Optional[int] = ..., bluetooth: _Optional[int] = ..., wifi: _Optional[int] = ...) -> None: ...

class DetectorLink(_message.Message):
    __slots__ = ("dest_detector_id", "src_detectors")
    class SourceDetector(_message.Message):
        __slots__ = ("detector_id", "max_seconds")
        DETECTOR_ID_FIELD_NUMBER: _ClassVar[int]
        MAX_SECONDS_FIELD_NUMBER: _ClassVar[int]
        detector_id: str
        max_seconds: int
        def __init__(self, detector_id: _Optional[str] = ..., max_seconds: _Optional[int] = ...) -> None: ...
    DEST_DETECTOR_ID_FIELD_NUMBER: _ClassVar[int]
    SRC_DETECTORS_FIELD_NUMBER: _ClassVar[int]
    dest_detector_id: str
    src_detectors: _containers.RepeatedCompositeFieldContainer[DetectorLink.SourceDetector]
    def __init__(self, dest_detector_id: _Optional[str] = ..., src_detectors: _Optional[_Iterable[_Union[DetectorLink.SourceDetector, _Mapping]]] = ...) -> None: ...
