"""The agent's settings. Layers: defaults, YAML (/etc/roadside/agent.yaml), ROADSIDE_*, flags.

Flat on purpose: every field is also an environment variable (ROADSIDE_BLE_ADAPTER) and a
flag (--ble-adapter). Sources read the fields with their prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from roadside.agent.model import TimestampChoice

DEFAULT_CONFIG_PATH = Path("/etc/roadside/agent.yaml")


@dataclass(frozen=True)
class AgentConfig:
    # identity
    detector_id: str = ""
    name: str = ""
    latitude: float = 0.0
    longitude: float = 0.0

    # central
    central: tuple[str, ...] = ("127.0.0.1:9000",)  # collector endpoints, tried in order
    tls_ca_file: Path | None = None  # the site CA: TLS to central (needed unless insecure)
    tls_cert_file: Path | None = None  # this box's certificate (`agent init --enroll` makes it)
    tls_key_file: Path | None = None  # its private key (made on the box, never leaves it)
    insecure: bool = False  # plaintext, only to a central started with --insecure (development)
    status_interval_s: float = 60.0
    # Prometheus metrics of `agent run` (README: Metrics); a port in use is logged, not fatal
    metrics: bool = True
    metrics_host: str = "127.0.0.1"  # loopback unless the site scrapes boxes over the network
    metrics_port: int = 9182  # 0 = any free port

    # privacy
    secret_file: Path = Path("/etc/roadside/site.secret")
    epoch_hours: float = 24.0  # a device gets a new id every epoch
    epoch_boundary_hour: float = 3.0  # local-clock hour (UTC offset below) where epochs start
    epoch_utc_offset_hours: float = 0.0
    # per address kind: keep, tag or drop (roadside.agent.model.AddressKind values)
    policy_wifi_global: str = "keep"
    policy_wifi_local: str = "tag"
    policy_ble_public: str = "keep"
    policy_ble_random_static: str = "keep"
    policy_ble_resolvable: str = "tag"
    policy_ble_non_resolvable: str = "drop"
    policy_bt_bredr: str = "keep"  # Bluetooth Classic addresses (car kits, headsets)
    policy_unknown: str = "tag"
    # new passes from addresses anyone can invent (all but WiFi global and BLE public) per
    # minute of sighting time; beyond it they are counted, not kept (0 = no budget)
    randomized_passes_per_minute: int = 600

    # passes
    pass_gap_s: float = 30.0
    max_pass_s: float = 600.0
    timestamp: TimestampChoice = TimestampChoice.PEAK
    raw_mode: bool = False  # send each sighting (deduplicated per second) instead of passes

    # disk buffer and upload
    state_dir: Path = Path("/var/lib/roadside")
    buffer_max_bytes: int = 256 * 1024 * 1024
    batch_max_passes: int = 1000
    batch_max_bytes: int = 512 * 1024
    # after a partial batch, the next waits up to this long for more passes to close (a
    # full batch goes at once); central merges a bucket's batches into one key later
    # (its compact_after_s); 0 = send each pass at once
    batch_linger_s: float = 15.0
    upload_timeout_s: float = 10.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 60.0

    # sources
    ble_enabled: bool = True
    ble_adapter: str = "hci0"
    ble_passive: bool = False  # passive scanning where BlueZ supports it
    wifi_enabled: bool = False
    wifi_interface: str = "wlan1mon"
    wifi_channels: tuple[int, ...] = (1, 6, 11)
    wifi_dwell_s: float = 0.25
    bt_classic_enabled: bool = False  # Bluetooth Classic inquiry (car kits: Class of Device)
    bt_classic_adapter: str = "hci0"
    serial_enabled: bool = False
    serial_port: str = "/dev/ttyUSB0"
    serial_baud: int = 0  # 0: the profile's (the firmware's UART speed)
    serial_profile: str = "nrf52840-dongle"  # firmware_config/serial/<profile>.yaml
    silence_restart_s: float = 300.0  # watchdog: restart a source silent this long
