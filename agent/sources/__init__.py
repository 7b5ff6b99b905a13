"""Where sightings come from: ble, wifi, serial and replay share one small interface."""

from roadside.agent.sources.factory import build_sources

__all__ = ["build_sources"]
