"""The road-network file: the example loads, and wrong fields are named in the error."""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from roadside.agent.model import RadioKind
from roadside.sim.network import NetworkError, load_network, parse_network

pytestmark = pytest.mark.wheel  # also run against the installed wheel


def example() -> dict[str, Any]:
    text = (resources.files("roadside.sim.networks") / "corridor.yaml").read_text()
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def test_example_corridor_has_four_detectors_three_links_and_a_rush_hour() -> None:
    net = load_network()
    assert len(net.detectors) >= 4 and len(net.links) >= 3
    first = net.links[0]
    free, rush = first.speed_kmh.at(5 * 3600), first.speed_kmh.at(8 * 3600)
    assert rush < free * 0.6
    assert {r.kind for r in net.radios} == set(RadioKind)
    assert net.stops.share > 0


def test_profile_is_linear_between_points_and_wraps_at_midnight() -> None:
    data = example()
    data["vehicles_per_hour"] = [[6, 100], [12, 400]]
    net = parse_network(data)
    assert net.vehicles_per_hour.at(9 * 3600) == pytest.approx(250)
    # from 12:00 (400) to 06:00 next day (100): 18 h; at 21:00 halfway
    assert net.vehicles_per_hour.at(21 * 3600) == pytest.approx(250)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["detectors"][1].update(id="Bad/Id"), "detectors[1].id"),
        (lambda d: d["detectors"][2].pop("latitude"), "detectors[2].latitude"),
        (lambda d: d["links"][0].update(dest="nowhere"), "links[0].dest"),
        (lambda d: d["links"][2].update(length_m="far"), "links[2].length_m"),
        (lambda d: d["links"][1].update(speed_kmh=[[8, 50], [7, 40]]), "links[1].speed_kmh[1]"),
        (lambda d: d["radios"]["wifi"].update(share=1.5), "radios.wifi.share"),
        (lambda d: d["radios"].update(zigbee={}), "radios.zigbee"),
        (lambda d: d.update(entries={"north-gate": 0.5}), "entries"),
        (lambda d: d["stops"].update(max_s=10), "stops.max_s"),
        (lambda d: d["routes"].update(r1=["north-gate", "market-square"]), "routes.r1[1]"),
    ],
)
def test_a_wrong_field_is_named(change: Any, field: str) -> None:
    data = copy.deepcopy(example())
    change(data)
    with pytest.raises(NetworkError, match=field.replace("[", r"\[").replace("]", r"\]")):
        parse_network(data)


def test_missing_file_and_bad_yaml_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(NetworkError, match="cannot read"):
        load_network(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("detectors: [\n")
    with pytest.raises(NetworkError, match="not valid YAML"):
        load_network(bad)
