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
    """Address the public listener binds; `0.0.0.0` for every interface."""
    port: int = Field(default=8080, ge=0, le=65535)
    """TCP port clients connect to; 0 lets the OS pick a free one (logged at start-up)."""
    max_body_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    """Largest request body accepted, in bytes; larger ones get 413 request_too_large."""
    header_read_timeout_s: float = Field(default=30.0, gt=0)
    """Seconds a request's headers may take to arrive after their first byte, else 408."""
    body_read_timeout_s: float = Field(default=60.0, gt=0)
    """Seconds a request's body may take to arrive after its headers, else 408."""
    keepalive_timeout_s: float = Field(default=75.0, gt=0)
    """Seconds an idle client connection is kept open between requests."""
    send_timeout_s: float = Field(default=60.0, gt=0)
    """Seconds a client may read nothing of its answer while bytes wait for it; then it is
    disconnected, since it would otherwise hold its answer's buffers forever."""


class AdminConfig(Section):
    """Metrics, health and the admin API, on their own port: never the public one.

    ``admin: {host: 127.0.0.1, port: 9090, token: "${DARKLAUNCH_ADMIN_TOKEN}"}``
    """

    host: str = "127.0.0.1"
    """Address the admin listener binds; keep it off networks clients reach."""
    port: int = Field(default=9090, ge=0, le=65535)
    """TCP port of `/metrics`, `/healthz`, `/readyz` and `/admin/*`; 0 picks a free one."""
    token: SecretStr | None = None
    """Bearer token for the admin API; without one the admin API answers 403."""
