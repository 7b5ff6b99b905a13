"""The detector agent: radios -> keyed hashing -> passes -> disk buffer -> uplink."""

from roadside.common import __version__

__all__ = ["__version__"]
