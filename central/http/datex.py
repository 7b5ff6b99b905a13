"""The travel times as a DATEX II v3 publication: `d2:payload` of type
roa:ElaboratedDataPublication with one SinglePhysicalQuantity of roa:TravelTimeData per link
and route, located by the detectors' coordinates (a loc:LinearLocation, GML line string
lat lon ...), the link or route named by external referencing.

A current window with figures gives travelTime (its median; the number of devices as
numberOfInputValuesUsed, the samples' standard deviation, computationalMethod
medianOfSamplesInATimePeriod), freeFlowTravelTime, travelTimeDelay and the trend. A
suppressed window or none gives no value but a physicalQuantityFault: noDataValuesAvailable,
saying why (fewer than k devices; no device; no window yet).
"""

from __future__ import annotations

import time
from typing import Any
from xml.etree import ElementTree as ET

from roadside.common.timeparse import format_utc

NS = {
    "d2": "http://datex2.eu/schema/3/d2Payload",
    "com": "http://datex2.eu/schema/3/common",
    "loc": "http://datex2.eu/schema/3/locationReferencing",
    "roa": "http://datex2.eu/schema/3/roadTrafficData",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}
for _prefix, _uri in NS.items():
    ET.register_namespace(_prefix, _uri)
REFERENCING = "roadside"  # externalReferencingSystem of the link and route ids
WHY = {"suppressed": "fewer than k distinct devices: withheld", "no_data": "no device",
       None: "no window computed yet"}


def _q(name: str) -> str:
    prefix, local = name.split(":")
    return f"{{{NS[prefix]}}}{local}"


def _el(parent: ET.Element, name: str, text: str | None = None, **attrs: str) -> ET.Element:
    child = ET.SubElement(parent, _q(name), {(_q(k) if ":" in k else k): v
                                             for k, v in attrs.items()})
    if text is not None:
        child.text = text
    return child


def _duration(parent: ET.Element, name: str, seconds: float, **attrs: str) -> None:
    _el(_el(parent, name, **attrs), "roa:duration", f"{seconds:.1f}")


def _multilingual(parent: ET.Element, name: str, text: str) -> None:
    _el(_el(_el(parent, name), "com:values"), "com:value", text, lang="en")


def publication(entries: list[dict[str, Any]], places: dict[str, tuple[float, float]],
                country: str = "XX", creator: str = "roadside",
                now_ns: int | None = None,
                roads: dict[str, list[list[float]]] | None = None) -> bytes:
    """The publication for feed entries (feeds.Feeds.travel_times), places = id -> (lat, lon);
    `roads` (entry id -> [longitude, latitude] points) draws a line along its road."""
    now = format_utc(now_ns or time.time_ns())
    root = ET.Element(_q("d2:payload"), {_q("xsi:type"): "roa:ElaboratedDataPublication",
                                         "lang": "en", "modelBaseVersion": "3"})
    _el(root, "com:publicationTime", now)
    creator_el = _el(root, "com:publicationCreator")
    _el(creator_el, "com:country", country)
    _el(creator_el, "com:nationalIdentifier", creator)
    _el(_el(root, "roa:headerInformation"), "com:informationStatus", "real")
    for entry in entries:
        road = (roads or {}).get(entry["id"])
        points = ([(lat, lon) for lon, lat in road] if road else
                  [places[d] for d in entry["detectors"] if d in places])
        _quantity(root, entry, points, now)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def _quantity(root: ET.Element, entry: dict[str, Any], points: list[tuple[float, float]],
              now: str) -> None:
    quantity = _el(root, "roa:physicalQuantity", **{"xsi:type": "roa:SinglePhysicalQuantity"})
    _multilingual(quantity, "roa:measurementEquipmentTypeUsed",
                  "Bluetooth and WiFi re-identification (roadside)")
    location = _el(quantity, "roa:pertinentLocation", **{"xsi:type": "loc:LinearLocation"})
    external = _el(location, "loc:externalReferencing")
    _el(external, "loc:externalLocationCode", entry["id"])
    _el(external, "loc:externalReferencingSystem", REFERENCING)
    if len(points) >= 2:
        line = _el(location, "loc:gmlLineString", srsDimension="2", srsName="EPSG:4326")
        _el(line, "loc:posList", " ".join(f"{lat:.6f} {lon:.6f}" for lat, lon in points))
    current = entry["current"]
    state = current["state"] if current else None
    if state != "ok":
        fault = _el(quantity, "roa:physicalQuantityFault")
        _multilingual(fault, "com:faultDescription", WHY.get(state, WHY[None]))
        _el(fault, "com:faultLastUpdateTime", now)
        _el(fault, "roa:physicalQuantityFaultType", "noDataValuesAvailable")
    data = _el(quantity, "roa:basicData", **{"xsi:type": "roa:TravelTimeData"})
    if current:
        timing = _el(data, "roa:measurementOrCalculationTime")
        _el(timing, "roa:timeValue", current["window_end"])
    if entry["trend"]:
        _el(data, "roa:travelTimeTrendType", entry["trend"])
    _el(data, "roa:travelTimeType", "reconstituted")
    if state == "ok":
        attrs = {"numberOfInputValuesUsed": str(current["samples"]),
                 "computationalMethod": "medianOfSamplesInATimePeriod"}
        if current["stddev_s"] is not None:
            attrs["standardDeviation"] = f"{current['stddev_s']:.2f}"
        if current.get("quality") is not None:
            attrs["supplierCalculatedDataQuality"] = f"{current['quality'] * 100:.1f}"
        _duration(data, "roa:travelTime", current["travel_time_s"], **attrs)
    if entry["free_flow_s"]:
        _duration(data, "roa:freeFlowTravelTime", entry["free_flow_s"])
    if entry.get("normal_s"):
        _duration(data, "roa:normallyExpectedTravelTime", entry["normal_s"])
    if state == "ok" and entry["delay_s"] is not None:
        _duration(data, "roa:travelTimeDelay", max(entry["delay_s"], 0.0))
