"""Radio and address kinds: the vocabulary passes carry, and its roadside.v1 protobuf names."""

from __future__ import annotations

import enum

from roadside.proto.v1 import types_pb2


class _Kind(enum.Enum):
    """Members hash by identity, in C: they key dicts on the agent's per-sighting path, where
    enum's own __hash__ (a Python call) costs more than the lookup."""

    __hash__ = object.__hash__


class RadioKind(_Kind):
    WIFI = "wifi"
    BLE = "ble"
    BT_CLASSIC = "bt_classic"


class AddressKind(_Kind):
    WIFI_GLOBAL = "wifi_global"  # universally administered (vendor OUI)
    WIFI_LOCAL = "wifi_local"  # locally administered: randomized
    BLE_PUBLIC = "ble_public"
    BLE_RANDOM_STATIC = "ble_random_static"
    BLE_RESOLVABLE = "ble_resolvable"
    BLE_NON_RESOLVABLE = "ble_non_resolvable"
    BT_BREDR = "bt_bredr"  # a Bluetooth Classic address: public, never rotated
    UNKNOWN = "unknown"


class DeviceClass(_Kind):
    """What carries the device (Bluetooth Classic's Class of Device; else UNKNOWN)."""

    VEHICLE = "vehicle"
    PERSON = "person"
    OTHER = "other"
    UNKNOWN = ""


# enum members map by name: RadioKind.WIFI <-> RADIO_KIND_WIFI, and so on
RADIO_TO_PB = {r: getattr(types_pb2, "RADIO_KIND_" + r.name) for r in RadioKind}
ADDRESS_TO_PB = {
    k: getattr(types_pb2, "ADDRESS_KIND_" + ("UNSPECIFIED" if k is AddressKind.UNKNOWN else k.name))
    for k in AddressKind
}
CLASS_TO_PB = {
    c: getattr(types_pb2, "DEVICE_CLASS_" + ("UNSPECIFIED" if c is DeviceClass.UNKNOWN else c.name))
    for c in DeviceClass
}
