"""The gRPC channel from an agent (or an installer) to a central collector endpoint.

TLS with the site CA (`tls_ca_file`) and the box's certificate; plaintext only with
`insecure` (a development central started with --insecure). Keepalive pings so that a
dead uplink is noticed, gzip on every call, and a short reconnect backoff so that an
uplink coming back is used quickly (the Uplink does its own backoff on top).
"""

from __future__ import annotations

import grpc
import grpc.aio

from roadside.agent.config import AgentConfig
from roadside.agent.errors import AgentError
from roadside.common.files import read_file

KEEPALIVE_TIME_MS = 30_000  # ping an idle connection this often
KEEPALIVE_TIMEOUT_MS = 10_000  # and call it dead without an answer in this time
MAX_RECONNECT_BACKOFF_MS = 5_000
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


class ChannelError(AgentError):
    """No TLS settings (and not `insecure`), or the TLS files cannot be read."""


def channel_options() -> list[tuple[str, int]]:
    return [
        ("grpc.keepalive_time_ms", KEEPALIVE_TIME_MS),
        ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.max_reconnect_backoff_ms", MAX_RECONNECT_BACKOFF_MS),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ]


def credentials(config: AgentConfig) -> grpc.ChannelCredentials | None:
    """TLS credentials from the config, or None for a plaintext channel (`insecure`)."""
    if config.insecure:
        return None
    if config.tls_ca_file is None:
        raise ChannelError("no TLS settings: set tls_ca_file, tls_cert_file and tls_key_file "
                           "(`roadside agent init --enroll TOKEN` does), or insecure for a "
                           "development central started with --insecure")
    ca = read_file(config.tls_ca_file, "tls_ca_file", ChannelError)
    key = cert = None
    if config.tls_cert_file is not None:
        if config.tls_key_file is None:
            raise ChannelError("tls_cert_file is set but tls_key_file is not")
        cert = read_file(config.tls_cert_file, "tls_cert_file", ChannelError)
        key = read_file(config.tls_key_file, "tls_key_file", ChannelError)
    return grpc.ssl_channel_credentials(
        root_certificates=ca, private_key=key, certificate_chain=cert
    )


def open_channel(endpoint: str, config: AgentConfig) -> grpc.aio.Channel:
    """A channel to `endpoint` ("host:port"); TLS per the config; gzip; keepalive."""
    creds = credentials(config)
    options = channel_options()
    if creds is None:
        return grpc.aio.insecure_channel(
            endpoint, options=options, compression=grpc.Compression.Gzip
        )
    return grpc.aio.secure_channel(
        endpoint, creds, options=options, compression=grpc.Compression.Gzip
    )
