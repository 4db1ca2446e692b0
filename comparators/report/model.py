"""The campaign report as data: what ``darklaunch report --format json`` prints and what the
table and HTML renderers draw from.

Every rate and delta is an :class:`~comparators.gate.stats.Estimate` (value, lower, upper, n) at the
report's confidence, and ``None`` means "no data", never zero. Field meanings are documented in
``docs/report.md``; add fields, never rename them, since CI jobs parse this JSON.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from comparators.gate.estimate import Estimate

__all__ = [
    "REPORT_SCHEMA_VERSION",
    "CampaignReport",
    "CandidateReport",
    "CostComparison",
    "CostSide",
    "Distributions",
    "HumanAgreement",
    "HumanSummary",
    "JudgeLoss",
    "JudgeSummary",
    "LabelCounts",
    "LatencyComparison",
    "Quantiles",
    "RateComparison",
    "RolloutEvent",
    "RolloutTimeline",
    "SliceReport",
]

REPORT_SCHEMA_VERSION = 1
_NO_DATA = Estimate(None, None, None, 0)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Quantiles(_Model):
    """One side's latency (or TTFT) quantiles in ms over pairs where both sides answered."""

    n: int = 0
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None


class LatencyComparison(_Model):
    """Incumbent against candidate; deltas are candidate minus incumbent, with bootstrap
    intervals. The rank test and Hodges–Lehmann shift describe the bulk of the distribution,
    the p95/p99 deltas its tail; a regression can hide in either."""

    incumbent: Quantiles
    candidate: Quantiles
    p50_delta_ms: Estimate
    p95_delta_ms: Estimate
    p99_delta_ms: Estimate
    mann_whitney_p: float | None = None
    hodges_lehmann_ms: Estimate


class CostSide(_Model):
    """Cost per query in USD over priced pairs where both sides answered."""

    mean: Estimate
    p95: float | None = None


class CostComparison(_Model):
    incumbent: CostSide
    candidate: CostSide
    mean_delta_usd: Estimate
    # Projected cost difference per 30 days if the candidate served this slice's traffic.
    monthly_delta_usd: Estimate
    projection_rps: float | None = None
    projection_basis: str = ""


class RateComparison(_Model):
    """A rate on both sides (e.g. errors): candidate minus incumbent with Newcombe's interval
    and a one-sided Fisher exact p-value for "the candidate's rate is higher"."""

    candidate: Estimate
    incumbent: Estimate
    delta: Estimate
    fisher_p_higher: float | None = None


class SliceReport(_Model):
    """One candidate on one slice of traffic: all pairs (scope ``all``) or one segment, whose
    scope is its dimension (``route``, ``model``, ``kind``, ``stream``, ``tag:<key>``; see
    :mod:`comparators.columns.segments`)."""

    scope: str
    key: str
    pairs: int
    divergence_rate: Estimate
    mean_similarity: Estimate
    noise_divergence_rate: Estimate
    noise_mean_similarity: Estimate
    noise_pairs: int
    excess_divergence: Estimate
    # Text rates count only pairs with text on at least one side (text.applicable), never
    # embedding pairs or two empty answers.
    exact_match_rate: Estimate
    json_valid_incumbent: Estimate
    json_valid_candidate: Estimate
    tool_call_agreement: Estimate
    errors: RateComparison
    refusals: RateComparison
    latency: LatencyComparison
    ttft: LatencyComparison
    cost: CostComparison
    breach_rates: dict[str, Estimate] = Field(default_factory=dict)
    # Embedding pairs (embedding.applicable): mean cosine and mean divergence, t intervals.
    embedding_cosine: Estimate = _NO_DATA
    embedding_divergence: Estimate = _NO_DATA
    noise_embedding_cosine: Estimate = _NO_DATA
    # The semantic reading (what ``quality: semantic`` gates on): answers whose meaning, facts,
    # JSON leaves or tool calls changed, on pairs where both sides answered.
    change_rate: Estimate = _NO_DATA
    noise_change_rate: Estimate = _NO_DATA
    excess_change: Estimate = _NO_DATA
    meaning_similarity: Estimate = _NO_DATA
    noise_meaning_similarity: Estimate = _NO_DATA
    fact_conflict_rate: Estimate = _NO_DATA
    json_equal_rate: Estimate = _NO_DATA
    # Outcomes apart from content: the candidate answered where the incumbent failed (a win),
    # or failed where the incumbent answered (a loss), as shares of all pairs.
    candidate_wins: Estimate = _NO_DATA
    candidate_losses: Estimate = _NO_DATA
    # The LLM judge (``quality: judge``), on the pairs it judged: the shares where the
    # candidate's answer was better and where the incumbent's was (ties are the rest), and
    # their difference, incumbent-better minus candidate-better, with Bonett–Price bounds: what
    # the gate's max_quality_regression limits. On replica pairs a fair judge's two shares
    # are equal.
    judge_better: Estimate = _NO_DATA
    judge_worse: Estimate = _NO_DATA
    judge_regression: Estimate = _NO_DATA
    noise_judge_better: Estimate = _NO_DATA
    noise_judge_worse: Estimate = _NO_DATA
    # Golden-set replays with expected answers (the ``reference`` comparator): the pairs with a
    # reference, those of them left out because a side could not be read against it, the
    # candidate's and the incumbent's share of right answers on the rest (Wilson), and their
    # paired difference, incumbent minus candidate, with Bonett–Price bounds: what the gate's
    # min_reference_accuracy and max_reference_regression limit.
    reference_pairs: int = 0
    reference_unscored: int = 0
    reference_accuracy: Estimate = _NO_DATA
    incumbent_reference_accuracy: Estimate = _NO_DATA
    reference_regression: Estimate = _NO_DATA


class Distributions(_Model):
    """Compact shapes for charts: percentiles 0..100 of each sample (101 numbers, whatever
    the campaign size) and a histogram of headline divergence for candidate and noise.

    Histogram bin ``i`` holds the pairs in ``(edges[i], edges[i + 1]]`` (the first also holds
    0), and the divergence threshold is always an edge: the rule the divergence rate counts by
    (:mod:`comparators.report.histogram`)."""

    latency_incumbent: list[float] = Field(default_factory=list)
    latency_candidate: list[float] = Field(default_factory=list)
    ttft_incumbent: list[float] = Field(default_factory=list)
    ttft_candidate: list[float] = Field(default_factory=list)
    cost_incumbent: list[float] = Field(default_factory=list)
    cost_candidate: list[float] = Field(default_factory=list)
    divergence_edges: list[float] = Field(default_factory=list)
    divergence_candidate: list[int] = Field(default_factory=list)
    divergence_noise: list[int] = Field(default_factory=list)


class CandidateReport(_Model):
    name: str
    models: list[str] = Field(default_factory=list)
    rows: list[SliceReport]
    distributions: Distributions
    # Models the cost comparator found no price for, with how many pairs each left uncosted.
    unpriced_models: dict[str, int] = Field(default_factory=dict)

    @property
    def overall(self) -> SliceReport:
        return self.rows[0]


class JudgeLoss(_Model):
    """A candidate pair the LLM judge gave to the incumbent, in both orders, and why."""

    pair_id: str
    mirror: str
    reason: str


class JudgeSummary(_Model):
    """The LLM judge over the campaign: what became of the pairs it read (``statuses``:
    judged, malformed, failed, budget, unscored), the share of judged pairs whose two orders
    agreed (its self-consistency), its calls, tokens and cost (the campaign's evaluation cost;
    ``None`` when its model is unpriced), and its reasons for the candidate's losses."""

    models: list[str] = Field(default_factory=list)
    statuses: dict[str, int] = Field(default_factory=dict)
    orders_agree: float | None = None
    calls: int = 0
    cached: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    losses: int = 0
    worst_losses: list[JudgeLoss] = Field(default_factory=list)


class LabelCounts(_Model):
    """Labels on one slice: a candidate (scope ``candidate``, all its segments) or a segment
    (``route``, ``kind``; of pairs whose score record is read), counted by verdict."""

    scope: str
    key: str
    labels: int
    verdicts: dict[str, int] = Field(default_factory=dict)


class HumanAgreement(_Model):
    """Cohen's kappa (:mod:`comparators.review.agreement`) with its Fleiss–Cohen–Everitt
    interval at the report's confidence, ``None`` below 10 shared items; ``kappa.n`` is the
    items rated by both. ``percent_agreement`` is the raw share of items rated alike.
    ``reviewer_pairs``: pairs of reviewers whose kappas were averaged (more than two
    reviewers). ``confusion`` (judge against reviewers only): pairs by the judge's verdict
    (rows) and the reviewer's, mapped to the judge's words (columns); ``left_out``: labels on
    judged pairs the judge cannot say (``incumbent_wrong``, ``both_wrong``)."""

    kappa: Estimate
    percent_agreement: float | None = None
    reviewer_pairs: int = 0
    confusion: dict[str, dict[str, int]] = Field(default_factory=dict)
    left_out: dict[str, int] = Field(default_factory=dict)


class HumanSummary(_Model):
    """What reviewers said (``darklaunch review``): ``labels`` (each reviewer's latest per
    (pair, mirror)) on ``labeled_pairs`` (pair, mirror)s, by verdict overall, per candidate and
    per segment, per reviewer; agreement between reviewers and between the judge and them;
    and the share of labeled (pair, mirror)s with an expected answer (a golden-set item with a
    reference, Wilson interval)."""

    labels: int
    labeled_pairs: int
    verdicts: dict[str, int] = Field(default_factory=dict)
    reviewers: dict[str, int] = Field(default_factory=dict)
    slices: list[LabelCounts] = Field(default_factory=list)
    inter_reviewer: HumanAgreement
    judge_human: HumanAgreement | None = None
    with_expected: Estimate = _NO_DATA


class RolloutEvent(_Model):
    """One change of the staged rollout, from its audit stream (``rollout:``)."""

    time: float
    action: str
    from_phase: str
    to_phase: str
    # The step entered, from 1 (0: none served), and the share it serves.
    step: int
    share: float
    cause: str
    actor: str
    reason: str


class RolloutTimeline(_Model):
    """The staged rollout of this campaign: where it is and every change that led there."""

    candidate: str
    phase: str
    step: int
    share: float
    events: list[RolloutEvent] = Field(default_factory=list)


class CampaignReport(_Model):
    schema_version: int = REPORT_SCHEMA_VERSION
    campaign: str
    generated_at: float
    confidence: float
    divergence_threshold: float
    first_timestamp: float | None = None
    last_timestamp: float | None = None
    records: int
    replica_records: int
    skipped_records: int = 0
    # (pair, mirror) records no comparator could score: left out of every number, counted per
    # route in ``notes``.
    unscored_records: int = 0
    candidates: list[CandidateReport]
    notes: list[str] = Field(default_factory=list)
    judge: JudgeSummary | None = None
    human: HumanSummary | None = None
    # The staged rollout's timeline, when the campaign was ramped (``darklaunch rollout``).
    rollout: RolloutTimeline | None = None
