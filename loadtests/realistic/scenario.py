"""The knobs of a realistic campaign: the traffic and incumbent (:class:`Scenario`) and the
candidate under test (:class:`CandidateBehaviour`).

Rates are shares in ``[0, 1]``, factors are positive multipliers, and both are checked when the
dataclass is built, with the field's name in the error, so a calibration table with a typo
fails before it generates anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Literal

from proxy.sim.answers import KINDS, STYLES, Kind, Style

__all__ = ["DEFAULT_MIX", "CandidateBehaviour", "Scenario"]

DEFAULT_MIX: tuple[tuple[Kind, float], ...] = (
    ("prose", 0.50),
    ("short_fact", 0.15),
    ("json", 0.15),
    ("tool_call", 0.08),
    ("refusable", 0.04),
)
_RATES = {
    "substantive_error_rate", "subtle_share", "refusal_increase", "error_rate", "tail_share",
    "replica_rate", "noise_content_rate", "stream_share", "incumbent_http400_rate",
    "incumbent_transient_rate",
}  # fmt: skip
_FACTORS = {"latency_factor", "median_factor", "tail_factor", "ttft_factor"}
_POSITIVE = {"latency_median_ms", "ttft_median_ms", "generation_median_ms", "interval_s"}


def _check(instance: CandidateBehaviour | Scenario) -> None:
    for f in fields(instance):
        value = getattr(instance, f.name)
        if f.name in _RATES and value is not None and not 0.0 <= value <= 1.0:
            raise ValueError(f"{f.name}={value!r}: expected a share between 0 and 1")
        if f.name in _FACTORS | _POSITIVE and not (math.isfinite(value) and value > 0):
            raise ValueError(f"{f.name}={value!r}: expected a positive number")


@dataclass(frozen=True)
class CandidateBehaviour:
    """How the candidate differs from the incumbent. The default is an equally good model
    that words things the incumbent's way (an A/A candidate).

    * ``style``: ``same``, ``verbose``, ``terse``, ``own``, ``markdown``, or ``mixed`` (a random
      style per answer). Every style keeps every fact; see :mod:`proxy.sim.answers.writer`.
    * ``substantive_error_rate``: share of comparable pairs (incumbent answered, prompt not
      refusable, in ``segment``) where the candidate is wrong; ``subtle_share`` of those are
      one fact, leaf or argument off, the rest a different answer or the wrong tool.
    * ``refusal_increase``: share of those pairs the candidate refuses instead, in varied
      wordings (drawn before the errors, so the two rates add up).
    * ``broken_kind``: every comparable answer of this kind is wrong (``subtle_share`` subtle).
    * ``error_rate``: transient failures (5xx or timeout); ``None`` means the scenario's
      ``incumbent_transient_rate``.
    * ``answers_when_incumbent_400``: when the incumbent rejects a request with 400, the
      candidate answers it anyway (``True``) or rejects it too.
    * ``latency_factor`` multiplies every latency; ``median_factor`` multiplies latencies up
      to the 69th percentile, fading linearly (in z) to 1 at the 99th, so the typical request
      speeds up while the tail stays put; ``tail_share`` of requests stall and take
      ``tail_factor`` times at least the nominal p99 (``0.015`` and ``2.5`` about double the
      p99 of the default traffic and move the median by about 1%); ``ttft_factor`` multiplies
      streamed TTFTs only.
    * ``segment``: tag pairs such as ``(("tenant", "acme"),)``; when set, the error, refusal and
      broken-kind knobs act only on pairs whose tags include all of them.

    ``CandidateBehaviour(style="own", substantive_error_rate=0.10)`` is a +10-point regression
    that words things its own way; ``CandidateBehaviour(tail_share=0.015, tail_factor=2.5)`` a
    tail-latency regression.
    """

    name: str = "candidate"
    model: str = "cand-model"
    style: Style | Literal["mixed"] = "same"
    substantive_error_rate: float = 0.0
    subtle_share: float = 0.5
    refusal_increase: float = 0.0
    broken_kind: Kind | None = None
    error_rate: float | None = None
    answers_when_incumbent_400: bool = True
    latency_factor: float = 1.0
    median_factor: float = 1.0
    tail_share: float = 0.0
    tail_factor: float = 1.0
    ttft_factor: float = 1.0
    segment: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        _check(self)
        if self.style != "mixed" and self.style not in STYLES:
            raise ValueError(f"style={self.style!r}: expected one of {(*STYLES, 'mixed')}")
        if self.broken_kind is not None and self.broken_kind not in KINDS[:4]:
            raise ValueError(f"broken_kind={self.broken_kind!r}: expected one of {KINDS[:4]}")
        if self.refusal_increase + self.substantive_error_rate > 1.0:
            raise ValueError("refusal_increase + substantive_error_rate must not exceed 1")


@dataclass(frozen=True)
class Scenario:
    """The traffic, the incumbent and one candidate.

    * ``pairs``: how many pair records; ``replica_rate``: share that also carry a replica (the
      incumbent asked again, its own wording drawn afresh).
    * ``noise_content_rate``: share of replica and candidate answers whose *content* differs
      from the incumbent's though both are fine (a figure rounded, a detail left out, a date
      spelled out): the noise floor a gate subtracts.
    * ``mix``: kind weights (normalised): prose, short facts, JSON mode (the request sets
      ``response_format``), tool calls (the request offers ``tools``) and prompts the incumbent
      refuses, which every side refuses consistently.
    * ``stream_share``: share of requests with ``stream: true`` (streamed outputs, TTFT set).
    * ``tenants``/``features``: weighted values of the ``tenant`` and ``feature`` tags.
    * ``incumbent_http400_rate``: the incumbent (and its replica) rejects the request with 400;
      ``incumbent_transient_rate``: the incumbent fails with a 5xx or a timeout.
    * Latency is log-normal per side (``latency_sigma``), half of its variance shared by every
      side of a request: non-streamed totals have median ``latency_median_ms``; streamed ones
      a TTFT of median ``ttft_median_ms`` plus a generation of median
      ``generation_median_ms``.

    ``Scenario(pairs=500, candidate=CandidateBehaviour(style="verbose"))``.
    """

    pairs: int = 2000
    candidate: CandidateBehaviour = field(default_factory=CandidateBehaviour)
    replica_rate: float = 0.5
    noise_content_rate: float = 0.03
    mix: tuple[tuple[Kind, float], ...] = DEFAULT_MIX
    stream_share: float = 0.4
    tenants: tuple[tuple[str, float], ...] = (
        ("acme", 0.5), ("globex", 0.25), ("initech", 0.15), ("umbrella", 0.1),
    )  # fmt: skip
    features: tuple[tuple[str, float], ...] = (("chat", 0.55), ("search", 0.25), ("support", 0.2))
    incumbent_http400_rate: float = 0.005
    incumbent_transient_rate: float = 0.01
    latency_median_ms: float = 900.0
    ttft_median_ms: float = 350.0
    generation_median_ms: float = 1100.0
    latency_sigma: float = 0.42
    incumbent_name: str = "incumbent"
    incumbent_model: str = "inc-model"
    campaign: str = "realistic"
    start: float = 1_700_000_000.0
    interval_s: float = 0.5

    def __post_init__(self) -> None:
        _check(self)
        if self.pairs < 0:
            raise ValueError(f"pairs={self.pairs!r}: expected zero or more")
        if not 0.0 <= self.latency_sigma <= 2.0:
            raise ValueError(f"latency_sigma={self.latency_sigma!r}: expected 0 to 2")
        if self.incumbent_http400_rate + self.incumbent_transient_rate > 1.0:
            raise ValueError("incumbent_http400_rate + incumbent_transient_rate must not exceed 1")
        for name in ("mix", "tenants", "features"):
            weights = [w for _, w in getattr(self, name)]
            if not weights or min(weights) < 0 or sum(weights) <= 0:
                raise ValueError(f"{name}: expected at least one positive weight")
        unknown = [k for k, _ in self.mix if k not in KINDS]
        if unknown:
            raise ValueError(f"mix: unknown kinds {unknown}; expected some of {KINDS}")

    @property
    def candidate_error_rate(self) -> float:
        rate = self.candidate.error_rate
        return self.incumbent_transient_rate if rate is None else rate
