"""roadside.v1: the agent <-> central and operator APIs."""
