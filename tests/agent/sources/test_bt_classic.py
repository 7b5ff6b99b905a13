"""Bluetooth Classic inquiry against python-dbusmock's BlueZ: a car kit, a headset and a phone
with their Class of Device; the BLE source beside it keeps to LE devices; a vehicle-only link
keeps only the car kit's samples."""

from __future__ import annotations

import asyncio

import etcd3
import pytest

from roadside.agent.model import AddressKind, DeviceClass, RadioKind, Sighting
from roadside.agent.passes import PassBuilder, ulid_prefix
from roadside.agent.privacy import DeviceHasher
from roadside.agent.sources.ble import BleSource
from roadside.agent.sources.bt_classic import BtClassicSource, classify
from roadside.agent.wire import pass_to_row, row_to_pb
from roadside.central.api.server import RunningCentral
from roadside.central.store.records import LinkRecord
from roadside.central.traveltime import engine, stats, store
from roadside.proto.v1 import collector_pb2_grpc
from tests.agent.test_privacy_e2e import find_macs
from tests.central.helpers import make_batch
from tests.fixtures.bluez import BluezMock
from tests.fixtures.polling import eventually
from tests.fixtures.trust import Site

CAR_KIT = ("00:1E:AE:4C:11:01", 0x240420)  # Audio/Video, car audio (rendering, audio)
HEADSET = ("00:1E:AE:4C:11:02", 0x240404)  # Audio/Video, wearable headset
PHONE = ("00:1E:AE:4C:11:03", 0x5A020C)  # Phone, smartphone
LE_PHONE = "C4:00:00:00:00:2A"
SECRET = b"classic-test-site-secret-0123456789"
S = 1_000_000_000
W = 300


def mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def test_class_of_device_decodes_to_vehicle_person_other() -> None:
    assert classify(0x240420) is DeviceClass.VEHICLE  # car audio
    assert classify(0x200408) is DeviceClass.VEHICLE  # hands-free device
    assert classify(0x240404) is DeviceClass.PERSON  # headset
    assert classify(0x5A020C) is DeviceClass.PERSON  # smartphone
    assert classify(0x000704) is DeviceClass.PERSON  # wearable: wristwatch
    assert classify(0x10010C) is DeviceClass.OTHER  # laptop
    assert classify(0x000540) is DeviceClass.OTHER  # keyboard


async def heard(bluez: BluezMock) -> tuple[list[Sighting], list[Sighting], BtClassicSource]:
    """Both sources running on hci0 while the three classic devices and one LE phone are
    found and heard again."""
    await bluez.add_adapter("hci0")
    classic, ble = BtClassicSource("hci0"), BleSource("hci0")
    got_classic: list[Sighting] = []
    got_ble: list[Sighting] = []
    stop = asyncio.Event()
    tasks = [asyncio.create_task(classic.run(got_classic.append, stop)),
             asyncio.create_task(ble.run(got_ble.append, stop))]
    await eventually(lambda: ble.scanning_mode == "active", 10)
    paths = [await bluez.add_classic_device("hci0", a, cod) for a, cod in (CAR_KIT, HEADSET,
                                                                           PHONE)]
    le = await bluez.add_device("hci0", LE_PHONE, "random")
    for i, path in enumerate([*paths, le]):
        await bluez.set_rssi(path, -60 - i)
    await eventually(lambda: len({s.mac for s in got_classic}) == 3 and got_ble, 10)
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 10)
    return got_classic, got_ble, classic


async def test_inquiry_results_carry_their_class_and_the_ble_source_keeps_to_le(
    bluez: BluezMock, caplog: pytest.LogCaptureFixture,
) -> None:
    got_classic, got_ble, classic = await heard(bluez)
    by_mac = {s.mac: s for s in got_classic}
    assert {m: (s.radio, s.address_kind, s.device_class, s.rssi) for m, s in by_mac.items()} == {
        mac(CAR_KIT[0]): (RadioKind.BT_CLASSIC, AddressKind.BT_BREDR, DeviceClass.VEHICLE, -60),
        mac(HEADSET[0]): (RadioKind.BT_CLASSIC, AddressKind.BT_BREDR, DeviceClass.PERSON, -61),
        mac(PHONE[0]): (RadioKind.BT_CLASSIC, AddressKind.BT_BREDR, DeviceClass.PERSON, -62),
    }
    assert {s.mac for s in got_ble} == {mac(LE_PHONE)}  # no inquiry result taken for LE
    assert classic.inquiry_results >= 3
    assert not find_macs(caplog.text.encode(), [mac(a) for a, _ in (CAR_KIT, HEADSET, PHONE)])


async def test_a_vehicle_only_link_keeps_only_the_car_kits_samples(
    bluez: BluezMock, central: RunningCentral, site: Site,
    etcd_client: etcd3.MultiEndpointEtcd3Client, namespace: str,
) -> None:
    got, _ble, _source = await heard(bluez)
    hasher = DeviceHasher(SECRET)
    t0 = (got[0].t_ns // S - 2 * W) // W * W  # a closed window
    collector = site.stub(central.collector_addr, collector_pb2_grpc.CollectorServiceStub)
    for detector, offset_s in (("north", 10), ("south", 70)):  # 60 s between them
        builder = PassBuilder(detector)
        for s in got:
            t = (t0 + offset_s) * S + s.t_ns % S
            builder.add(hasher.device_id(s.mac, t), t, s.rssi, s.radio, s.address_kind,
                        device_class=s.device_class)
        prefix = ulid_prefix(detector)
        batch = make_batch(detector, [row_to_pb(pass_to_row(p), prefix) for p in builder.flush()])
        collector.UploadBatch(batch, timeout=10)
    rules = stats.Rules(k=1)

    def window(vehicle_only: bool) -> object:
        central.store.set_links("south", [LinkRecord("north", "south", 600,
                                                     vehicle_only=vehicle_only)])
        [link] = store.all_targets(etcd_client, namespace, 1800)
        [w] = engine.compute_windows(etcd_client, namespace, link, [t0], W, rules)
        return w

    everyone = window(False)
    assert everyone.by_class == {"person": 2, "vehicle": 1}
    assert everyone.by_address_kind == {"bt_bredr": 3} and not everyone.vehicle_only
    vehicles = window(True)
    assert vehicles.by_class == {"vehicle": 1} and vehicles.vehicle_only
    assert vehicles.samples_s == (60.0,)
