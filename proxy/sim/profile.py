"""How a simulated upstream behaves: the :class:`SimProfile` that the server runs on and the
wire builders read, kept apart from both so that they import it one way."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from proxy.sim.answers.model import Style

__all__ = ["Mode", "SimProfile", "StyleChoice"]

Mode = Literal[
    "ok", "hang", "reset", "garbage", "error", "slow_headers", "die_mid_stream", "malformed_sse",
    "huge",
]  # fmt: skip
# One style of :mod:`proxy.sim.answers.writer`, ``mixed`` (any of them), or a list to draw from.
StyleChoice = (
    Literal["same", "verbose", "terse", "own", "markdown", "mixed"]
    | Annotated[tuple[Style, ...], Field(min_length=1)]
)


class SimProfile(BaseModel):
    """How a simulated upstream behaves. Every field may be changed while it runs.

    Examples::

        SimProfile()                                      # instant and well-behaved
        SimProfile(latency_ms=200, token_interval_ms=20)  # realistic time to first token, pacing
        SimProfile(mode="hang")                           # accepts and never answers
        SimProfile(error_rate=0.1, error_status=503)      # one request in ten fails
        SimProfile(seed=7, nondeterminism=0.3)            # wording wobbles, reproducibly
        SimProfile(name="cand", divergence_rate=0.2)      # a fifth of prompts answered differently
        SimProfile(style="own", content_error_rate=0.1)   # bank questions: own words, 10% wrong

    A prompt that is exactly one of the content bank's questions (:mod:`proxy.sim.answers`) is
    answered with that item's content, worded in ``style`` afresh on every call, so the release
    gate's semantic check has facts to compare; any other prompt gets the phrase-bank prose of
    :func:`proxy.sim.text.compose`, which ``nondeterminism`` and ``divergence_rate`` shape.

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
    # substantively different answer (phrase-bank prompts only), or a refusal (any prompt; the
    # bank's refusable questions are refused whatever this says).
    divergence_rate: float = Field(default=0.0, ge=0, le=1)
    refusal_rate: float = Field(default=0.0, ge=0, le=1)
    # Typical completion length in tokens (about four characters each).
    output_tokens_mean: int = Field(default=60, ge=1)
    # Bank questions: how answers are worded. A list (or ``mixed``, all five) is drawn from per
    # answer with the per-request RNG, as a model's habits vary from one answer to the next.
    style: StyleChoice = "same"
    # Bank questions: share picked by a stable hash of the prompt and ``name`` (like
    # ``divergence_rate``) whose answer is substantively wrong, the same way on every call:
    # the lower half of that share one fact, JSON leaf or tool argument off (subtle), the upper
    # half another answer or the wrong tool (gross).
    content_error_rate: float = Field(default=0.0, ge=0, le=1)
    # Bank questions: share of answers, drawn per request, with a defensible difference (a
    # figure rounded, a detail left out): a model's own content-level nondeterminism, which a
    # replica of the incumbent measures as the noise floor.
    content_noise_rate: float = Field(default=0.0, ge=0, le=1)
    # Set, the simulator is an LLM judge (proxy.sim.judge): every chat completion is a
    # verdict on the two answers in its prompt, right this share of the time, by the truth of
    # the simulated models in this process; and picks answer A this share of the time
    # whatever the answers (position bias).
    judge_accuracy: float | None = Field(default=None, ge=0, le=1)
    judge_position_bias: float = Field(default=0.0, ge=0, le=1)
