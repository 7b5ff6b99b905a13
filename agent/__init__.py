"""roadside edge agent: radios -> keyed hashing -> passes -> disk buffer -> uplink.

The agent package is also roadside's base: central imports its domain model
(agent.model) and configuration loader (agent.config_layers), never the reverse.
"""

__version__ = "0.1.0"
