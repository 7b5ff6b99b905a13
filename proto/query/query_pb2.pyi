import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DetectionEvent(_message.Message):
    __slots__ = ("time", "device_id", "detector_id")
    TIME_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    DETECTOR_ID_FIELD_NUMBER: _ClassVar[int]
    time: _containers.RepeatedCompositeFieldContainer[_timestamp_pb2.Timestamp]
    device_id: str
    detector_id: str
    def __init__(self, time: _Optional[_Iterable[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]]] = ..., device_id: _Optional[str] = ..., detector_id: _Optional[str] = ...) -> None: ...

class Range(_message.Message):
    __slots__ = ("after", "before")
    AFTER_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    after: _timestamp_pb2.Timestamp
    before: _timestamp_pb2.Timestamp
    def __init__(self, after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetEventsRequest(_message.Message):
    __slots__ = ("detector_ids", "range", "limit")
    DETECTOR_IDS_FIELD_NUMBER: _ClassVar[int]
    RANGE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    detector_ids: _containers.RepeatedScalarFieldContainer[str]
    range: Range
    limit: int
    def __init__(self, detector_ids: _Optional[_Iterable[str]] = ..., range: _Optional[_Union[Range, _Mapping]] = ..., limit: _Optional[int] = ...) -> None: ...

class GetEventsResponse(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[DetectionEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[DetectionEvent, _Mapping]]] = ...) -> None: ...

class GetBatteryVoltageRequest(_message.Message):
    __slots__ = ("detector_ids", "range", "limit")
    DETECTOR_IDS_FIELD_NUMBER: _ClassVar[int]
    RANGE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    detector_ids: _containers.RepeatedScalarFieldContainer[str]
    range: Range
    limit: int
    def __init__(self, detector_ids: _Optional[_Iterable[str]] = ..., range: _Optional[_Union[Range, _Mapping]] = ..., limit: _Optional[int] = ...) -> None: ...

class VoltageReport(_message.Message):
    __slots__ = ("detector_id", "voltage")
    DETECTOR_ID_FIELD_NUMBER: _ClassVar[int]
    VOLTAGE_FIELD_NUMBER: _ClassVar[int]
    detector_id: str
    voltage: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, detector_id: _Optional[str] = ..., voltage: _Optional[_Iterable[float]] = ...) -> None: ...

class GetBatteryVoltageResponse(_message.Message):
    __slots__ = ("reports",)
    REPORTS_FIELD_NUMBER: _ClassVar[int]
    reports: _containers.RepeatedCompositeFieldContainer[VoltageReport]
    def __init__(self, reports: _Optional[_Iterable[_Union[VoltageReport, _Mapping]]] = ...) -> None: ...
