"""PRIVACY: known MACs go in; no spelling of any of them comes out anywhere.

The agent runs with a driveable source and uploads, through a recording loopback TCP
proxy, to a real CollectorServicer on a real etcd that also records every request it
receives. We search the buffer database files (with -wal/-shm), status.json, everything
logged at DEBUG, the serialized requests central received, and the raw TCP bytes (and
every gzip body in them) for each MAC in every common spelling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import etcd3
import grpc
import pytest

from roadside.agent.model import AddressKind
from roadside.central.api.collector import CollectorServicer
from roadside.central.api.validation import Limits
from roadside.central.store.etcd_store import EtcdStore
from roadside.proto.v1 import collector_pb2, collector_pb2_grpc
from tests.fixtures.agent import FakeSource, MakeConfig, live, running_agent, sighting
from tests.fixtures.polling import eventually

PROXY_CHUNK = 65536


@pytest.fixture
def agent_config(agent_config: MakeConfig) -> MakeConfig:
    return live(agent_config)  # passes in real time: no boundary overlap


def spellings(mac: bytes) -> list[bytes]:
    """Every common way a MAC is written: raw (both byte orders), hex with ':', '-', '.',
    or nothing between octets, upper and lower case."""
    out = [mac, mac[::-1]]
    for octets in (mac, mac[::-1]):
        hexes = [f"{b:02x}" for b in octets]
        for sep in (":", "-", "", " "):
            text = sep.join(hexes)
            out += [text.encode(), text.upper().encode()]
        dotted = ".".join("".join(hexes[i : i + 2]) for i in (0, 2, 4))  # Cisco style
        out += [dotted.encode(), dotted.upper().encode()]
    return out


def find_macs(blob: bytes, macs: list[bytes]) -> list[str]:
    """The spellings of `macs` found in `blob` (reported as hex, never as the MAC)."""
    return [f"{m.hex()[:4]}..: {s!r}" for m in macs for s in spellings(m) if s in blob]


def read_files(directory: Path, pattern: str) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in directory.glob(pattern) if f.is_file()}


def gzip_bodies(blob: bytes) -> list[bytes]:
    """Decompress every gzip member found in a byte stream (gRPC message compression)."""
    out = []
    start = blob.find(b"\x1f\x8b\x08")
    while start >= 0:
        with contextlib.suppress(zlib.error):
            out.append(zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(blob[start:]))
        start = blob.find(b"\x1f\x8b\x08", start + 1)
    return out


class RecordingCollector(CollectorServicer):
    def __init__(self, store: EtcdStore, limits: Limits) -> None:
        super().__init__(store, limits)
        self.received: list[bytes] = []

    def UploadBatch(
        self, request: collector_pb2.UploadBatchRequest, context: grpc.ServicerContext
    ) -> collector_pb2.UploadBatchResponse:
        self.received.append(request.SerializeToString())
        return super().UploadBatch(request, context)


class Proxy:
    """A loopback TCP proxy that records both directions; refuses service until opened."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.bytes = bytearray()
        self.open = False
        self.refused = 0
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.open:
            self.refused += 1
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(PROXY_CHUNK):
                self.bytes += data
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()


@pytest.fixture
def recording_central(
    etcd_client: etcd3.MultiEndpointEtcd3Client, namespace: str
) -> Iterator[tuple[RecordingCollector, int]]:
    servicer = RecordingCollector(EtcdStore(etcd_client, namespace), Limits(7 * 86400, 300, 5000))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    collector_pb2_grpc.add_CollectorServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, port
    server.stop(grace=None).wait()


def test_search_finds_what_it_looks_for() -> None:
    mac = bytes.fromhex("a4c3f0112233")
    for blob in (b"..A4:C3:F0:11:22:33..", b"a4c3.f011.2233", b"x\xa4\xc3\xf0\x11\x22\x33",
                 b"33-22-11-f0-c3-a4", b"A4C3F0112233"):
        assert find_macs(blob, [mac]), blob
    assert not find_macs(b"a4c3f0 112234", [mac])


async def test_no_mac_leaves_the_agent(
    recording_central: tuple[RecordingCollector, int], agent_config: MakeConfig,
    etcd_client: etcd3.MultiEndpointEtcd3Client, namespace: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    servicer, port = recording_central
    proxy = Proxy(port)
    await proxy.start()
    # plaintext on purpose: the proxy searches the bytes on the wire (TLS would hide them)
    config = agent_config(central=f"127.0.0.1:{proxy.port}", pass_gap_s=0.5, insecure=True)
    kinds = [AddressKind.WIFI_GLOBAL, AddressKind.WIFI_LOCAL, AddressKind.BLE_PUBLIC,
             AddressKind.BLE_RANDOM_STATIC, AddressKind.BLE_RESOLVABLE]
    macs = [bytes([0xC0 | (i >> 4), 0x1A, 0x7D, 0xDA, 0x71, i]) for i in range(40)]
    source = FakeSource("fake")
    try:
        async with running_agent(config, source) as runner:
            now = time.time_ns()
            for i, mac in enumerate(macs):
                for k in range(3):
                    source.inject(sighting(mac, now + k * 1000, -50 - k, kinds[i % len(kinds)]))
            # central unreachable: the passes wait in the disk buffer
            await eventually(lambda: runner.buffer.depth() == 40, what="40 passes in the buffer")
            assert proxy.refused > 0
            waiting = await asyncio.to_thread(read_files, Path(config.state_dir), "buffer.db*")
            assert len(waiting) >= 2  # the database and its WAL
            for name, data in waiting.items():
                assert not find_macs(data, macs), name
            proxy.open = True  # central reachable: the buffer drains
            await eventually(lambda: runner.buffer.depth() == 0, what="the buffer to drain")
    finally:
        await proxy.stop()

    files = await asyncio.to_thread(read_files, Path(config.state_dir), "*")
    assert set(files) >= {"buffer.db", "status.json"}
    for name, data in files.items():
        assert not find_macs(data, macs), name
    assert not find_macs(caplog.text.encode(), macs)
    received = b"".join(servicer.received)
    stored = etcd_client.get_prefix(f"/{namespace}/")
    device_ids = [p.device_id for r in servicer.received
                  for p in collector_pb2.UploadBatchRequest.FromString(r).passes]
    assert len(set(device_ids)) == 40  # central did get all the passes, hashed
    assert not find_macs(received, macs)
    assert not find_macs(b"".join(v + m.key for v, m in stored), macs)
    wire = bytes(proxy.bytes)
    bodies = gzip_bodies(wire)
    assert any(device_ids[0].encode() in b for b in bodies)  # the gzip bodies were read
    assert not find_macs(wire, macs)
    for body in bodies:
        assert not find_macs(body, macs)
