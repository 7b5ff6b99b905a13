"""central's root exception and its kinds; central/api/grpc_errors.py maps them to gRPC codes."""

from roadside.common.errors import RoadsideError


class CentralError(RoadsideError):
    """Root exception of the central package."""


class PortInUse(CentralError):
    """A port central should listen on is taken; the message names the setting."""

    def __init__(self, host: str, port: int, setting: str) -> None:
        super().__init__(f"{host}:{port} is in use (another central?); set {setting} "
                         f"(--{setting.replace('_', '-')}, 0 = any free port)")


class InvalidArgument(CentralError):
    """Bad input from a client: the message names the field (and index)."""


class NotFound(CentralError):
    """A detector, link or route that does not exist."""


class StoreUnavailable(CentralError):
    """etcd cannot be reached or refused the write; nothing was acknowledged."""


class ResourceExhausted(CentralError):
    """A bound was reached: a quota, a rate, a stream limit; the caller should back off."""


class StoreFull(StoreUnavailable):
    """etcd is out of space (its NOSPACE alarm): nothing can be written until it is freed."""


class Unauthenticated(CentralError):
    """The caller did not prove who it is (no certificate, an unknown or used token)."""


class PermissionDenied(CentralError):
    """The caller is known but may not do this."""
