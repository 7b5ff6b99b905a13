"""The wheel: everything under one `roadside` namespace, beside proto-plus's `proto`."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FOREIGN = ("agent", "central", "proto", "collector", "query")
PACKAGES = ("agent", "central", "common", "sim", "proto", "firmware_config")  # roadside.<folder>


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of the checkout (the build leaves nothing in the tree)."""
    src = tmp_path_factory.mktemp("src")
    for name in PACKAGES:
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, src / name)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(src)], check=True, capture_output=True, timeout=300,
    )
    [built] = out.glob("roadside-*.whl")
    return built


def test_wheel_holds_only_the_roadside_namespace(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"roadside", next(t for t in tops if t.endswith(".dist-info"))}
    for module in ("roadside/agent/buffer.py", "roadside/common/main.py",
                   "roadside/central/api/server.py", "roadside/central/store/keys.py",
                   "roadside/proto/v1/collector_pb2.py",
                   "roadside/sim/networks/corridor.yaml",
                   "roadside/central/http/static/index.html",
                   "roadside/central/http/static/app.js",
                   "roadside/firmware_config/serial/nrf52840-dongle.yaml",
                   "roadside/firmware_config/profiles/rpi4.yaml"):
        assert module in names
    assert not any(n.startswith(("roadside/agent/common/", "roadside/agent/sim/")) for n in names)


def test_installed_wheel_lives_beside_proto_plus(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "env"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path("
                                "'purelib'))"], check=True, capture_output=True, text=True
                               ).stdout.strip())
    # roadside's dependencies and proto-plus come from this environment's site-packages, read
    # as a plain path: its editable-install hook for roadside is not activated there
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True,
                   timeout=300)
    probe = (
        "import importlib.util, proto, roadside.central.api.server, roadside.agent.runner\n"
        "assert hasattr(proto, 'Message'), proto.__file__\n"
        f"print([m for m in {FOREIGN!r} if m != 'proto' and importlib.util.find_spec(m)])\n"
        "print(roadside.central.api.server.__file__)\n"
        "from roadside.agent.sources.serial_profile import load_profile\n"
        "print(load_profile('nrf52840-dongle').protocol)\n"
    )
    run = subprocess.run([python, "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    stray, server_file, protocol = run.stdout.splitlines()
    assert stray == "[]"
    assert server_file.startswith(str(site))
    assert protocol == "nrf-sniffer"  # the board profiles are found in the installed package
    helped = subprocess.run([env_dir / "bin" / "roadside", "--help"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert helped.returncode == 0, helped.stderr
    for group in ("agent", "central", "query", "links", "sim"):
        assert group in helped.stdout


def test_the_agent_and_simulator_commands_load_without_central() -> None:
    """An agent-only install (a box, the agent image that runs simulated agents) has no
    central modules nor etcd: its commands must not need them."""
    probe = ("import sys\n"
             "from roadside.common.main import GROUPS\n"
             "import importlib\n"
             "for g in ('agent', 'sim'):\n"
             "    for m in GROUPS[g].modules: importlib.import_module(m)\n"
             "print(sorted(m for m in sys.modules if m.startswith('roadside.central') "
             "or m.split('.')[0] == 'etcd3'))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
