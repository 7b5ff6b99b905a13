"""The agent's root exception."""

from roadside.common.errors import RoadsideError


class AgentError(RoadsideError):
    """Root exception of the agent package."""
