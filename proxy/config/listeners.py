"""The sockets darklaunch listens on: the public listener and the admin port."""

from __future__ import annotations

from pydantic import Field, SecretStr

from proxy.config.base import Section

__all__ = ["AdminConfig", "ListenConfig"]


class ListenConfig(Section):
    """The public listener clients point their base URL at.

    ``listen: {host: 0.0.0.0, port: 8080, max_body_bytes: 10485760}``
    """

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    """Largest request body accepted; larger ones get 413 request_too_large."""
    header_read_timeout_s: float = Field(default=30.0, gt=0)
    """A request's headers must arrive within this time of their first byte, or 408."""
    body_read_timeout_s: float = Field(default=60.0, gt=0)
    """A request's body must arrive within this time, or 408."""
    keepalive_timeout_s: float = Field(default=75.0, gt=0)
    """An idle client connection is closed after this long."""
    send_timeout_s: float = Field(default=60.0, gt=0)
    """A client that reads nothing of its answer for this long, while darklaunch has bytes
    waiting for it, is disconnected: it would otherwise hold its answer's buffers forever."""


class AdminConfig(Section):
    """Metrics, health and the admin API, on their own port: never the public one.

    ``admin: {host: 127.0.0.1, port: 9090, token: "${DARKLAUNCH_ADMIN_TOKEN}"}``
    """

    host: str = "127.0.0.1"
    port: int = Field(default=9090, ge=0, le=65535)
    token: SecretStr | None = None
    """Bearer token for the admin API; without one the admin API answers 403."""
