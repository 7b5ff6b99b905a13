"""central's commands: `central serve|worker`, and the operators' `query` and `links`."""
