"""How a simulated upstream behaves: the :class:`SimProfile` that the server runs on and the
wire builders read, kept apart from both so that they import it one way."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Mode", "SimProfile"]

Mode = Literal[
    "ok", "hang", "reset", "garbage", "error", "slow_headers", "die_mid_stream", "malformed_sse",
    "huge",
]  # fmt: skip


class SimProfile(BaseModel):
    """How a simulated upstream behaves. Every field may be changed while it runs.

    Examples::

        SimProfile()                                      # instant and well-behaved
        SimProfile(latency_ms=200, token_interval_ms=20)  # realistic time to first token, pacing
        SimProfile(mode="hang")                           # accepts and never answers
        SimProfile(error_rate=0.1, error_status=503)      # one request in ten fails
        SimProfile(seed=7, nondeterminism=0.3)            # wording wobbles, reproducibly
        SimProfile(name="cand", divergence_rate=0.2)      # a fifth of prompts answered differently

    The fault modes are described in :mod:`proxy.sim.server`, which carries them out.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: str = "sim"
    # Reported when the request names no model; otherwise the request's model is echoed.
    model: str = "sim-model"
    # Time to the status line (and so to the first token), plus an exponential tail whose
    # mean is the jitter; then one interval between token-bearing chunks.
    latency_ms: float = Field(default=0.0, ge=0)
    latency_jitter_ms: float = Field(default=0.0, ge=0)
    token_interval_ms: float = Field(default=0.0, ge=0)
    tokens_per_chunk: int = Field(default=1, ge=1)
    mode: Mode = "ok"
    slow_headers_ms: float = Field(default=3000.0, ge=0)
    # Share of requests (drawn from the per-request RNG) answered with ``error_status``.
    error_rate: float = Field(default=0.0, ge=0, le=1)
    error_status: int = Field(default=500, ge=400, le=599)
    huge_bytes: int = Field(default=100 * 1024 * 1024, ge=0)
    # The per-request RNG is seeded from ``seed`` and the request count; None leaves it unseeded.
    seed: int | None = None
    # Chance per sentence of rewording, so repeated prompts give similar, not identical, text.
    nondeterminism: float = Field(default=0.0, ge=0, le=1)
    # Shares of prompts, picked by a stable hash of the prompt and ``name``, that get a
    # substantively different answer, or a refusal.
    divergence_rate: float = Field(default=0.0, ge=0, le=1)
    refusal_rate: float = Field(default=0.0, ge=0, le=1)
    # Typical completion length in tokens (about four characters each).
    output_tokens_mean: int = Field(default=60, ge=1)
