"""nRF Sniffer for Bluetooth LE frames through the agent, beside the WiFi pipeline, same run.

Stages over the same stream of SLIP-framed advertising packet events (protocol 3, as an
nRF52840 dongle with firmware 4.x sends them; 400 devices, random and public addresses):
  nrf parse     SLIP decoding, packet header, advertising PDU -> Sighting (serial_source)
  nrf +hash     the same plus the keyed hash (HMAC-SHA256 with the epoch key)
  nrf pipeline  parse -> hash -> policy -> passes -> DiskBuffer (SQLite, real file)
  wifi pipeline bench_wifi's pipeline on the largest real WiFi capture (the baseline)
An nRF52840 at 1 Mbaud delivers at most ~2,000 advertising events a second; the agent must
keep up with many times that. Run: .venv/bin/python bench/bench_serial.py
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import bench_wifi  # noqa: E402

from roadside.agent.buffer import DiskBuffer  # noqa: E402
from roadside.agent.config import AgentConfig  # noqa: E402
from roadside.agent.model import Sighting  # noqa: E402
from roadside.agent.pipeline import Pipeline  # noqa: E402
from roadside.agent.privacy import DeviceHasher  # noqa: E402
from roadside.agent.sources import nrf_sniffer as nrf  # noqa: E402
from roadside.agent.sources.serial_profile import load_profile  # noqa: E402
from roadside.agent.sources.serial_source import WRAP_US, BoardClock, SerialSource  # noqa: E402
from tests.fixtures.serial_board import advert_packet, slip  # noqa: E402

EVENTS = 300_000
DEVICES = 400
CHUNK = 4096  # bytes per read, as a UART read returns them
SECRET = b"bench-site-secret-" * 2
BOARD_RATE = 2_000  # advertising events a second an nRF52840 at 1 Mbaud can deliver


def stream() -> bytes:
    rng = random.Random(3)
    macs = [bytes([0xC0 | rng.randrange(64)]) + rng.randbytes(5) for _ in range(DEVICES)]
    out = bytearray()
    for i in range(EVENTS):
        n = rng.randrange(DEVICES)
        out += slip(advert_packet(macs[n], n % 2 == 0, -40 - n % 50, 37 + i % 3,
                                  i * 500, counter=i & 0xFFFF))
    return bytes(out)


def parse(data: bytes, on: object) -> int:
    """Feed the stream in UART-sized chunks through what the serial source does per frame."""
    source = SerialSource("/dev/null", 0, load_profile("nrf52840-dongle"))
    decoder = nrf.SlipDecoder(Counter())
    clock = BoardClock(WRAP_US * 1000)
    for at in range(0, len(data), CHUNK):
        for frame, packet in source.packets(decoder, data[at:at + CHUNK]):
            if nrf.is_advert_event(packet):
                source.on_advert(frame, packet, clock, on)  # type: ignore[arg-type]
    return source.sightings


async def pipeline(data: bytes, state: Path) -> tuple[int, int]:
    config = AgentConfig(detector_id="bench", state_dir=state)
    buffer = DiskBuffer(state / "buffer.db", config.buffer_max_bytes).open()
    try:
        pipe = Pipeline(config, DeviceHasher(SECRET), buffer)
        n = parse(data, pipe.on_sighting)
        pipe.close_all()
        await pipe.flush()
        return n, pipe.counts().passes
    finally:
        buffer.close()


def rate(label: str, n: int, dt: float, extra: str = "") -> float:
    print(f"  {label:<14} {n:>9,} frames  {dt:7.3f} s  {n / dt:>11,.0f} frames/s{extra}",
          flush=True)
    return n / dt


def main() -> int:
    data = stream()
    print(f"nRF Sniffer stream: {EVENTS:,} advertising events, {len(data):,} bytes, "
          f"{DEVICES} devices")
    t0 = time.perf_counter()
    n = parse(data, lambda _s: None)
    parse_rate = rate("nrf parse", n, time.perf_counter() - t0)
    hasher = DeviceHasher(SECRET)

    def hashed(s: Sighting) -> None:
        hasher.device_id(s.mac, s.t_ns)

    t0 = time.perf_counter()
    n = parse(data, hashed)
    rate("nrf +hash", n, time.perf_counter() - t0)
    with tempfile.TemporaryDirectory(prefix="bench-serial-") as tmp:
        t0 = time.perf_counter()
        n, passes = asyncio.run(pipeline(data, Path(tmp) / "nrf"))
        nrf_rate = rate("nrf pipeline", n, time.perf_counter() - t0, f"   ({passes:,} passes)")
        if not bench_wifi.LARGEST.exists():
            print(f"WiFi baseline skipped: {bench_wifi.LARGEST} not found")
            return 0
        state = Path(tmp) / "wifi"
        state.mkdir()
        t0 = time.perf_counter()
        n, passes, _writing = asyncio.run(bench_wifi.pipeline(bench_wifi.LARGEST, state))
        wifi_rate = rate("wifi pipeline", n, time.perf_counter() - t0, f"   ({passes:,} passes)")
    print(f"nrf pipeline = {nrf_rate / wifi_rate:.2f} of the WiFi pipeline's frames/s; parse "
          f"alone {parse_rate / BOARD_RATE:,.0f}x what one board at 1 Mbaud can send")
    return 0


if __name__ == "__main__":
    sys.exit(main())
