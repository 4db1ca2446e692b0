"""The release gate's policy: what a candidate must demonstrate before it may ship.

``gate.yaml`` in :mod:`proxy.shipped.files` ships these defaults with comments (it is
``darklaunch gate``'s policy without ``--policy``); ``docs/report.md`` explains each check.
A limit set to ``null`` switches its check off. Unknown keys are errors, so a typo such as
``max_p95_latency_ratoi`` fails loudly instead of silently disabling a check.

Exceptions::

    GatePolicyError  (ValueError)  unreadable YAML, unknown key, or a value out of range
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["GatePolicy", "GatePolicyError", "Quality", "load_policy", "parse_policy"]


class Quality(StrEnum):
    """How the gate reads "the candidate's answer is different" (docs/report.md):

    * ``semantic``: by meaning and facts. Tool calls and JSON exactly (any changed argument or
      leaf), prose by sentence-embedding similarity plus exact numbers, money, names and
      negations. For a new model or prompt, whose wording will differ.
    * ``lexical``: by word overlap, headline divergence above ``divergence_threshold``. For a
      change that should not change wording at all: a new serving stack for the same model.
    * ``judge``: by an LLM judge's pairwise verdicts (``judge:`` in the config): not "is it
      different" but "is it worse", a non-inferiority check on the judged pairs
      (``max_quality_regression``) in place of the changed-answer check.
    """

    SEMANTIC = "semantic"
    LEXICAL = "lexical"
    JUDGE = "judge"


class GatePolicyError(ValueError):
    """A policy that cannot be used; ``problems`` holds one line per bad key."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"invalid gate policy {source}:\n" + "\n".join(f"  {p}" for p in problems))


class GatePolicy(BaseModel):
    """Limits the candidate must stay within, at ``confidence``.

    ``GatePolicy()``                                  the shipped defaults
    ``GatePolicy(max_p95_latency_ms=2500)``           add an absolute p95 budget
    ``GatePolicy(max_excess_divergence=None)``        do not gate on answer divergence
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # One-sided confidence of every bound the gate compares with a limit.
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0)
    # Fewer candidate pairs than this can never PASS (it can still FAIL on clear evidence).
    min_pairs: int = Field(default=500, ge=1)
    # Judge every check per segment too (route, model, request kind, stream, user tags);
    # a segment with fewer pairs than min_segment_pairs is shown but not judged.
    segments: bool = True
    min_segment_pairs: int = Field(default=100, ge=1)
    # What counts as a changed answer: semantic, lexical or judge (see Quality).
    quality: Quality = Quality.SEMANTIC
    # Lexical quality only: a pair counts as divergent when its headline divergence is above this.
    divergence_threshold: float = Field(default=0.2, ge=0.0, lt=1.0)
    # Changed-answer rate above the noise floor (replica vs incumbent), absolute: 0.05 = 5 pts.
    max_excess_divergence: float | None = Field(default=0.05, ge=0.0, le=1.0)
    # Judge quality only: the share of judged pairs where the incumbent's answer is better
    # minus the share where the candidate's is (the seed's ALLOWED_REGRESSION): 0.02 = 2 pts.
    max_quality_regression: float | None = Field(default=0.02, ge=0.0, le=1.0)
    # Judge quality only, off by default: how far the judge must be shown to agree with human
    # reviewers (Cohen's kappa over pairs both judged and labeled, ``darklaunch review``)
    # before its verdicts may PASS or FAIL a candidate. The kappa's one-sided lower bound at
    # ``confidence`` must reach this, over at least 30 such pairs, or quality_regression is
    # INCONCLUSIVE: a judge nobody checked is an opinion, not evidence. 0.6 is "substantial".
    min_judge_human_agreement: float | None = Field(default=None, gt=-1.0, le=1.0)
    # The candidate's own error rate, absolute.
    max_error_rate: float | None = Field(default=0.05, ge=0.0, le=1.0)
    # Candidate error rate minus incumbent error rate on the same requests.
    max_error_rate_increase: float | None = Field(default=0.01, ge=0.0, le=1.0)
    # Candidate refusal rate minus incumbent refusal rate.
    max_refusal_rate_increase: float | None = Field(default=0.01, ge=0.0, le=1.0)
    # Golden-set replays with expected answers only (the ``reference`` comparator), off by
    # default because live traffic has no reference: the candidate's share of answers that
    # match the reference must be at least this (0.9 = 90%), exact bounds.
    min_reference_accuracy: float | None = Field(default=None, gt=0.0, le=1.0)
    # ... and its accuracy may fall at most this far below the incumbent's on the same items:
    # incumbent-right-only minus candidate-right-only share of the scored items, paired
    # (0.02 = 2 pts). Non-inferiority against the truth, not against the incumbent's wording.
    max_reference_regression: float | None = Field(default=None, ge=0.0, le=1.0)
    # Absolute p95 of the candidate's total latency, in ms.
    max_p95_latency_ms: float | None = Field(default=None, gt=0.0)
    # Candidate p95 / incumbent p95 of total latency.
    max_p95_latency_ratio: float | None = Field(default=1.2, gt=0.0)
    # Candidate p99 / incumbent p99: the tail a median and a p95 check can both miss.
    max_p99_latency_ratio: float | None = Field(default=1.3, gt=0.0)
    # Candidate / incumbent typical latency (Hodges–Lehmann on log latency): the rank check.
    max_median_latency_ratio: float | None = Field(default=1.2, gt=0.0)
    # Candidate p95 / incumbent p95 of time to first token (streamed requests only).
    max_p95_ttft_ratio: float | None = Field(default=None, gt=0.0)
    # Mean cost per query of the candidate, in USD.
    max_mean_cost_usd: float | None = Field(default=None, gt=0.0)
    # Bootstrap resamples for the quantile ratios, and the seed that makes verdicts repeatable.
    n_resamples: int = Field(default=4000, ge=500, le=1_000_000)
    seed: int = 0


def _describe(error: Any, data: Any) -> str:
    loc = ".".join(str(p) for p in error["loc"]) or "<root>"
    if error["type"] == "extra_forbidden":
        known = ", ".join(GatePolicy.model_fields)
        return f"{loc}: unknown key; expected one of: {known}"
    value = data.get(error["loc"][0]) if isinstance(data, dict) and error["loc"] else data
    message = str(error["msg"]).removeprefix("Value error, ").removeprefix("Input should be ")
    return f"{loc}: got {value!r}; expected {message}"


def parse_policy(data: Any, *, source: str = "<policy>") -> GatePolicy:
    """Validate already-parsed YAML; an empty document means all defaults."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise GatePolicyError(source, [f"<root>: got {type(data).__name__}; expected a mapping"])
    try:
        return GatePolicy.model_validate(data)
    except ValidationError as exc:
        raise GatePolicyError(source, [_describe(e, data) for e in exc.errors()]) from exc


def load_policy(path: Path | str) -> GatePolicy:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise GatePolicyError(str(path), [f"cannot read: {exc.strerror or exc}"]) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise GatePolicyError(str(path), [f"not valid YAML: {exc}"]) from exc
    return parse_policy(data, source=str(path))
