"""The root of roadside's user-facing errors: the CLI prints these as one line, no traceback."""


class RoadsideError(Exception):
    """An error whose message is meant for the person at the terminal."""
