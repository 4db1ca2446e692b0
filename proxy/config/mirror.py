"""Which requests are mirrored to the candidates, and how many go to the incumbent twice."""

from __future__ import annotations

from pydantic import Field, field_validator

from proxy.config.base import Section

__all__ = ["DEFAULT_ROUTES", "MirrorConfig"]

DEFAULT_ROUTES = ("/v1/chat/completions", "/v1/completions", "/v1/responses", "/v1/embeddings")


class MirrorConfig(Section):
    """Which requests are mirrored to the candidates.

    ``mirror: {sample_rate: 0.05, sample_key: "header:x-user-id"}``
    """

    sample_rate: float = Field(default=0.05, ge=0.0, le=1.0)
    """Share of requests on mirrored routes sent to the candidates, from 0 to 1."""
    sample_key: str = "random"
    """`random`, `header:<name>` or `json:<field>`: a stable hash keeps a key in or out."""
    routes: list[str] = Field(default_factory=lambda: list(DEFAULT_ROUTES))
    """Paths that are mirrored (exact match, without the query string)."""
    paused: bool = False
    """Start with mirroring paused (the admin API can resume it)."""
    noise_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    """Share of mirrored requests also sent to the incumbent a second time (mirror `replica`),
    from 0 to 1: the incumbent's own nondeterminism, the report's noise floor."""
    replica_max_inflight: int = Field(default=32, ge=1)
    """Replica calls in flight at most; beyond it replicas are skipped (reason max_inflight)."""

    @field_validator("sample_key")
    @classmethod
    def _check_sample_key(cls, value: str) -> str:
        kind, _, arg = value.partition(":")
        if value == "random" or (kind in ("header", "json") and arg):
            return value
        raise ValueError("'random', 'header:<name>' or 'json:<field>'")

    @field_validator("routes")
    @classmethod
    def _check_routes(cls, value: list[str]) -> list[str]:
        for route in value:
            if not route.startswith("/"):
                raise ValueError(f"paths starting with '/', got {route!r}")
        return value
