"""The `roadside agent ...` sub-commands (init, run, status, doctor, replay, record)."""
