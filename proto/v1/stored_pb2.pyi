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
