"""Build the campaign report from score records: per candidate, for all pairs and split by
route and by requested model, every number with its interval.

The noise floor of a slice is the same statistic computed on the replica scores of the same
slice (the incumbent against itself); the *excess* divergence is the candidate's divergence
rate minus the noise floor's, with Newcombe's interval for a difference of proportions. This is
Diffy's noise cancellation: a candidate is only charged for disagreeing more than the
incumbent disagrees with itself.

Latency and cost are compared on pairs where both sides answered; failures are counted in the
error rates instead, so a candidate that fails fast cannot look fast. The text rates count only
pairs with text to compare (not embeddings, not two empty answers), and embedding pairs get
their own cosine row. The monthly cost projection weights each pair by the sample rate it was
recorded at (:mod:`comparators.report.projection`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from comparators.columns.frame import BoolArray, ScoreFrame, dedupe, split_roles
from comparators.columns.unscored import split_unscored
from comparators.gate import stats
from comparators.gate.estimate import DEFAULT_RESAMPLES, Estimate, FloatArray
from comparators.judge.record import Judgement
from comparators.report.histogram import divergence_edges, divergence_histogram
from comparators.report.human import human_summary
from comparators.report.judged import judge_summary
from comparators.report.model import (
    CampaignReport,
    CandidateReport,
    CostComparison,
    CostSide,
    Distributions,
    LatencyComparison,
    Quantiles,
    RateComparison,
    SliceReport,
)
from comparators.report.projection import pair_weights, project
from comparators.report.rollout import rollout_timeline
from comparators.review.label import Label
from comparators.scores import ScoreRecord
from proxy.rollout.state import Transition

__all__ = [
    "DEFAULT_DIVERGENCE_THRESHOLD",
    "SECONDS_PER_MONTH",
    "build_report",
    "render_json",
]

DEFAULT_DIVERGENCE_THRESHOLD = 0.2
SECONDS_PER_MONTH = 30 * 86_400
_PERCENTILES = np.linspace(0.0, 1.0, 101)


def build_report(
    scores: Sequence[ScoreRecord],
    *,
    campaign: str | None = None,
    divergence_threshold: float = DEFAULT_DIVERGENCE_THRESHOLD,
    confidence: float = 0.95,
    traffic_rps: float | None = None,
    sample_rate: float | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    skipped_records: int = 0,
    generated_at: float | None = None,
    judgements: Sequence[Judgement] = (),
    labels: Sequence[Label] = (),
    rollout: Sequence[Transition] = (),
) -> CampaignReport:
    """The report for one campaign's scores.

    ``traffic_rps`` (the full traffic the candidate would serve), else the sample rate each
    pair was recorded at, turn the per-query cost delta into a monthly projection.
    ``sample_rate`` (the config's ``mirror.sample_rate``) stands in only for pairs recorded
    without one, and a note says so. ``judgements`` and reviewers' ``labels`` add the
    judge's and the reviewers' sections (``judge``, ``human``), a staged rollout's audit
    trail its timeline (``rollout``).
    """
    if not 0.0 <= divergence_threshold < 1.0:
        raise ValueError(
            f"divergence_threshold: got {divergence_threshold!r}; expected a number in [0, 1)"
        )
    if sample_rate is not None and not 0.0 < sample_rate <= 1.0:
        raise ValueError(f"sample_rate: got {sample_rate!r}; expected a number in (0, 1]")
    if traffic_rps is not None and traffic_rps < 0:
        raise ValueError(f"traffic_rps: got {traffic_rps!r}; expected a number >= 0")
    records, unscored = split_unscored(dedupe(scores))
    candidates, replicas = split_roles(records)
    timestamps = [r.timestamp for r in records]
    projection = project(records, traffic_rps, sample_rate)
    notes = [*unscored.notes(), *projection.notes]
    if not replicas:
        notes.append(
            "no replica scores: the noise floor is unmeasured (set mirror.noise_rate), so the "
            "excess divergence is reported against a floor of zero"
        )
    ctx = _Context(
        confidence=confidence,
        threshold=divergence_threshold,
        n_resamples=n_resamples,
        seed=seed,
        rps=projection.rps,
        basis=projection.basis,
        fallback_rate=projection.fallback_rate,
    )
    noise = ScoreFrame.of(replicas)
    reports = [_candidate_report(name, group, noise, ctx) for name, group in candidates.items()]
    notes.extend(_unpriced_note(report) for report in reports if report.unpriced_models)
    return CampaignReport(
        campaign=campaign or (records[0].campaign if records else ""),
        generated_at=time.time() if generated_at is None else generated_at,
        confidence=confidence,
        divergence_threshold=divergence_threshold,
        first_timestamp=min(timestamps) if timestamps else None,
        last_timestamp=max(timestamps) if timestamps else None,
        records=len(records),
        replica_records=len(replicas),
        skipped_records=skipped_records,
        unscored_records=unscored.total,
        candidates=reports,
        notes=notes,
        judge=judge_summary(judgements),
        human=human_summary(labels, scores, judgements, confidence=confidence),
        rollout=rollout_timeline(rollout),
    )


def render_json(report: CampaignReport) -> str:
    return report.model_dump_json(indent=2)


class _Context:
    """The knobs every slice is computed with, passed as one object."""

    def __init__(
        self,
        *,
        confidence: float,
        threshold: float,
        n_resamples: int,
        seed: int,
        rps: float | None,
        basis: str,
        fallback_rate: float | None,
    ) -> None:
        self.confidence = confidence
        self.threshold = threshold
        self.n_resamples = n_resamples
        self.seed = seed
        self.rps = rps
        self.basis = basis
        self.fallback_rate = fallback_rate

    def weight(self, frame: ScoreFrame) -> float:
        """The requests a frame's pairs stand for: a slice's share of the projection."""
        return float(pair_weights(frame.sample_rates, self.fallback_rate).sum())


def _unpriced(records: list[ScoreRecord]) -> dict[str, int]:
    """Each model the cost comparator found no price for, with the pairs it left uncosted."""
    counts: dict[str, int] = {}
    for record in records:
        models = record.details.get("cost", {}).get("unpriced")
        for model in models if isinstance(models, list) else []:
            counts[str(model)] = counts.get(str(model), 0) + 1
    return dict(sorted(counts.items()))


def _pairs(n: int) -> str:
    return f"{n} pair" if n == 1 else f"{n} pairs"


def _unpriced_note(report: CandidateReport) -> str:
    """Why a cost shows "—" and how to fix it: unpriced is never priced at zero, so without
    this note a missing price looks like missing data."""
    models = ", ".join(f"{m!r} ({_pairs(n)})" for m, n in report.unpriced_models.items())
    named = [m for m in report.unpriced_models if not m.startswith("<")]  # "<mirror model unknown>"
    head = f"candidate {report.name!r}: no price for model {models}, so its cost is not computed"
    if not named:
        return f"{head}: set candidates[].model so the cost comparator knows what to price"
    return (
        f"{head} (shown as —). Add the model under prices.models in the config, e.g. prices: "
        f"{{models: {{{named[0]}: {{input_cost_per_token: 1.5e-07, output_cost_per_token: "
        "6e-07}}}, or to the JSON price table named by prices.file (LiteLLM's layout); prices "
        "apply when the worker scores a pair"
    )


def _candidate_report(
    name: str, records: list[ScoreRecord], noise: ScoreFrame, ctx: _Context
) -> CandidateReport:
    frame = ScoreFrame.of(records)
    total = ctx.weight(frame)
    rows = [_slice("all", "all", frame, noise, total, ctx)]
    dimensions = {"route": sorted(set(frame.routes.tolist()))}
    dimensions["model"] = sorted(set(frame.models.tolist()))
    dimensions.update(frame.segments())  # kind, stream and tags where they vary
    for dimension, values in dimensions.items():
        for value in values:
            part = frame.take(frame.segment_mask(dimension, value))
            part_noise = noise.take(noise.segment_mask(dimension, value))
            rows.append(_slice(dimension, value, part, part_noise, total, ctx))
    models = sorted({r.mirror_model for r in records if r.mirror_model})
    return CandidateReport(
        name=name,
        models=models,
        rows=rows,
        distributions=_distributions(frame, noise, ctx),
        unpriced_models=_unpriced(records),
    )


def _slice(
    scope: str, key: str, frame: ScoreFrame, noise: ScoreFrame, total: float, ctx: _Context
) -> SliceReport:
    conf = ctx.confidence
    k, n = frame.divergent(ctx.threshold)
    noise_k, noise_n = noise.divergent(ctx.threshold)
    if noise_n:
        excess = stats.newcombe_difference(k, n, noise_k, noise_n, conf)
    else:  # unmeasured floor: the raw rate bounds the excess from above
        excess = stats.proportion(k, n, conf)
    json_applicable = frame.flag("json.applicable")
    tools_applicable = frame.flag("tool_calls.applicable")
    text, noise_text = frame.text_applicable, noise.text_applicable
    embedded, noise_embedded = (
        frame.flag("embedding.applicable"),
        noise.flag("embedding.applicable"),
    )
    changed, noise_changed = frame.changed(), noise.changed()
    change_k, change_n = int((changed == 1).sum()), int((changed >= 0).sum())
    noise_change_k, noise_change_n = (
        int((noise_changed == 1).sum()),
        int((noise_changed >= 0).sum()),
    )
    if noise_change_n:
        excess_change = stats.newcombe_difference(
            change_k, change_n, noise_change_k, noise_change_n, conf
        )
    else:
        excess_change = stats.proportion(change_k, change_n, conf)
    meaning, noise_meaning = frame.flag("semantic.applicable"), noise.flag("semantic.applicable")
    worse, better, judged = frame.discordant("judge.incumbent_better", "judge.mirror_better")
    noise_worse, noise_better, noise_judged = noise.discordant(
        "judge.incumbent_better", "judge.mirror_better"
    )
    reference = frame.reference_tally()
    return SliceReport.model_validate(
        {
            "scope": scope,
            "key": key,
            "pairs": len(frame),
            "divergence_rate": stats.proportion(k, n, conf),
            "mean_similarity": stats.mean_ci(frame.column("text.similarity", text), conf),
            "noise_divergence_rate": stats.proportion(noise_k, noise_n, conf),
            "noise_mean_similarity": stats.mean_ci(
                noise.column("text.similarity", noise_text), conf
            ),
            "noise_pairs": len(noise),
            "excess_divergence": excess,
            "exact_match_rate": _rate(frame, "text.exact_match", conf, text),
            "embedding_cosine": stats.mean_ci(frame.column("embedding.cosine", embedded), conf),
            "embedding_divergence": stats.mean_ci(
                frame.column("embedding.divergence", embedded), conf
            ),
            "noise_embedding_cosine": stats.mean_ci(
                noise.column("embedding.cosine", noise_embedded), conf
            ),
            "json_valid_incumbent": _rate(frame, "json.incumbent_valid", conf, json_applicable),
            "json_valid_candidate": _rate(frame, "json.mirror_valid", conf, json_applicable),
            "tool_call_agreement": _rate(frame, "tool_calls.agree", conf, tools_applicable),
            "errors": _rates(frame, "outcome.mirror_error", "outcome.incumbent_error", conf),
            "refusals": _rates(frame, "outcome.mirror_refusal", "outcome.incumbent_refusal", conf),
            "latency": _latency(frame, "latency.incumbent_ms", "latency.mirror_ms", ctx),
            "ttft": _latency(
                frame,
                "latency.incumbent_ttft_ms",
                "latency.mirror_ttft_ms",
                ctx,
                frame.streamed(),
            ),
            "cost": _cost(frame, ctx.weight(frame) / total if total else 0.0, ctx),
            "change_rate": stats.proportion(change_k, change_n, conf),
            "noise_change_rate": stats.proportion(noise_change_k, noise_change_n, conf),
            "excess_change": excess_change,
            "meaning_similarity": stats.mean_ci(frame.column("semantic.similarity", meaning), conf),
            "noise_meaning_similarity": stats.mean_ci(
                noise.column("semantic.similarity", noise_meaning), conf
            ),
            "fact_conflict_rate": _rate(frame, "semantic.facts_match", conf, meaning, negate=True),
            "json_equal_rate": _rate(frame, "json.equal", conf, json_applicable),
            "candidate_wins": _rate(frame, "outcome.mirror_win", conf),
            "candidate_losses": _rate(frame, "outcome.mirror_loss", conf),
            "judge_better": stats.proportion(better, judged, conf),
            "judge_worse": stats.proportion(worse, judged, conf),
            "judge_regression": stats.paired_difference(worse, better, judged, conf),
            "noise_judge_better": stats.proportion(noise_better, noise_judged, conf),
            "noise_judge_worse": stats.proportion(noise_worse, noise_judged, conf),
            "reference_pairs": reference.pairs,
            "reference_unscored": reference.unscored,
            "reference_accuracy": stats.proportion(reference.candidate_right, reference.n, conf),
            "incumbent_reference_accuracy": stats.proportion(
                reference.incumbent_right, reference.n, conf
            ),
            "reference_regression": stats.paired_difference(
                reference.only_incumbent, reference.only_candidate, reference.n, conf
            ),
            "breach_rates": {
                kind: stats.proportion(frame.breach_count(kind), len(frame), conf)
                for kind in frame.breach_kinds()
            },
        }
    )


def _rate(
    frame: ScoreFrame,
    key: str,
    confidence: float,
    within: BoolArray | None = None,
    *,
    negate: bool = False,
) -> Estimate:
    """The share of ``within`` where the flag ``key`` is true (false with ``negate``)."""
    k, n = frame.count(key, within)
    return stats.proportion(n - k if negate else k, n, confidence)


def _rates(frame: ScoreFrame, candidate: str, incumbent: str, confidence: float) -> RateComparison:
    k1, n1 = frame.count(candidate)
    k2, n2 = frame.count(incumbent)
    return RateComparison(
        candidate=stats.proportion(k1, n1, confidence),
        incumbent=stats.proportion(k2, n2, confidence),
        delta=stats.newcombe_difference(k1, n1, k2, n2, confidence),
        fisher_p_higher=stats.fisher_greater_p(k1, n1, k2, n2),
    )


def _quantiles(values: FloatArray) -> Quantiles:
    if values.size == 0:
        return Quantiles()
    p50, p95, p99 = (float(v) for v in np.quantile(values, [0.5, 0.95, 0.99]))
    return Quantiles(n=int(values.size), p50=p50, p95=p95, p99=p99)


def _latency(
    frame: ScoreFrame,
    incumbent: str,
    candidate: str,
    ctx: _Context,
    within: BoolArray | None = None,
) -> LatencyComparison:
    """Latency on pairs where both sides answered (and ``within``: TTFT is read on streamed
    pairs only, since a plain answer's first byte is its last)."""
    ok = frame.both_ok if within is None else frame.both_ok & within
    a, b = frame.column(incumbent, ok), frame.column(candidate, ok)
    conf, resamples, seed = ctx.confidence, ctx.n_resamples, ctx.seed
    deltas = {
        f"p{round(q * 100)}_delta_ms": stats.bootstrap_quantile_delta(
            a, b, q, conf, n_resamples=resamples, seed=seed
        )
        for q in (0.5, 0.95, 0.99)
    }
    return LatencyComparison(
        incumbent=_quantiles(a),
        candidate=_quantiles(b),
        mann_whitney_p=stats.mann_whitney_p(a, b),
        hodges_lehmann_ms=stats.hodges_lehmann_shift(a, b, conf, seed=seed),
        **deltas,
    )


def _cost(frame: ScoreFrame, share: float, ctx: _Context) -> CostComparison:
    ok = frame.both_ok
    conf = ctx.confidence
    a, b = frame.column("cost.incumbent_usd", ok), frame.column("cost.mirror_usd", ok)
    delta = stats.mean_ci(frame.column("cost.delta_usd", ok), conf)
    monthly = Estimate(None, None, None, delta.n)
    if ctx.rps is not None:
        scale = ctx.rps * share * SECONDS_PER_MONTH
        monthly = delta.map(lambda value: value * scale)
    return CostComparison(
        incumbent=CostSide(mean=stats.mean_ci(a, conf), p95=stats.quantile(a, 0.95)),
        candidate=CostSide(mean=stats.mean_ci(b, conf), p95=stats.quantile(b, 0.95)),
        mean_delta_usd=delta,
        monthly_delta_usd=monthly,
        projection_rps=None if ctx.rps is None else ctx.rps * share,
        projection_basis=ctx.basis,
    )


def _percentiles(values: FloatArray) -> list[float]:
    return [float(v) for v in np.quantile(values, _PERCENTILES)] if values.size else []


def _distributions(frame: ScoreFrame, noise: ScoreFrame, ctx: _Context) -> Distributions:
    ok = frame.both_ok
    edges = divergence_edges(ctx.threshold)
    return Distributions(
        latency_incumbent=_percentiles(frame.column("latency.incumbent_ms", ok)),
        latency_candidate=_percentiles(frame.column("latency.mirror_ms", ok)),
        ttft_incumbent=_percentiles(
            frame.column("latency.incumbent_ttft_ms", ok & frame.streamed())
        ),
        ttft_candidate=_percentiles(frame.column("latency.mirror_ttft_ms", ok & frame.streamed())),
        cost_incumbent=_percentiles(frame.column("cost.incumbent_usd", ok)),
        cost_candidate=_percentiles(frame.column("cost.mirror_usd", ok)),
        divergence_edges=edges,
        divergence_candidate=divergence_histogram(frame.divergence, edges),
        divergence_noise=divergence_histogram(noise.divergence, edges),
    )
