"""How often the reference checks give the right verdict on a replayed golden set.

    python -m loadtests.reference_calibration [--seeds 100] [--pairs 200 1000] [--out PATH]

Each seed is one replay of a golden set of ``pairs`` items with expected answers. Every item
has a ground truth, drawn from a probit item-response model: a side answers item ``i`` right
when ``ability + easiness_i + own_i + noise > 0``, where ``easiness_i`` (variance
:data:`ITEM_VARIANCE`) is shared by every model (a hard item is hard for all), ``own_i``
(variance :data:`MODEL_VARIANCE`) is the model's own strengths and weaknesses, and ``noise``
(variance 1) is the sampling of one call. The same model asked twice shares ``own_i``
(``aa``: correlated as a model is with itself); another model draws its own. ``ability`` is
set so that the side's accuracy is exactly the setting's (the incumbent's 85%).

The ``reference`` comparator then reads each answer against the expected one and errs on its
own: it misreads a right answer as wrong with probability ``misread_right`` and a wrong one as
right with ``misread_wrong``, independently per answer, and cannot read ``unscored`` of the
candidate's answers at all. The records carry the ``reference.*`` values that comparator
writes, and are healthy in every other respect (no errors, equal latency and cost, realistic
request kinds and streaming for the segments). The gate judges them with the offline policy of
``docs/offline-gate.md`` with the reference checks as its quality check (:func:`policy`),
segments included; over the seeds the share of PASS, FAIL and INCONCLUSIVE is what a user
would see. ``docs/calibration-reference.md`` holds the measured tables.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from comparators.gate.policy import GatePolicy, load_policy
from comparators.gate.result import GateResult, Verdict
from comparators.gate.stats import wilson_interval
from comparators.gate.verdict import evaluate
from comparators.scores import ScoreRecord, Value
from proxy.recording.schema import Role
from proxy.shipped.files import shipped_path

__all__ = [
    "INCUMBENT_ACCURACY",
    "NOISY",
    "SETTINGS",
    "Outcome",
    "ReferenceSetting",
    "Truth",
    "accuracy_policy",
    "attainable_pass",
    "generate",
    "main",
    "policy",
    "run_setting",
    "tables",
]

INCUMBENT_ACCURACY = 0.85
ITEM_VARIANCE = 3.0  # how much items differ in difficulty, shared by every model
MODEL_VARIANCE = 1.0  # how much a model's own strengths differ from another's, item by item
KINDS = ("chat", "chat", "chat", "tool_call", "json")
REFERENCE_KINDS = {"chat": "text", "tool_call": "tool_calls", "json": "json"}
REGRESSION_LIMIT = 0.02
ACCURACY_LIMIT = 0.80
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ReferenceSetting:
    name: str
    title: str
    candidate_accuracy: float
    same_model: bool = False  # the candidate is the incumbent again (A/A)
    misread_right: float = 0.03  # the comparator reads a right answer as wrong
    misread_wrong: float = 0.03  # ... and a wrong answer as right
    unscored: float = 0.01  # candidate answers the comparator cannot read
    expected: Verdict | None = None  # the verdict the target counts
    at_most: bool = False  # the target is "at most" (a false alarm), else "at least"
    target: float | None = None
    target_pairs: int | None = None  # the target holds at this size only (None: every size)

    def target_text(self, pairs: int) -> str:
        if self.expected is None or self.target is None:
            return ""
        if self.target_pairs is not None and pairs != self.target_pairs:
            return ""
        sign = "≤" if self.at_most else "≥"
        return f"{self.expected.value} {sign} {self.target:.0%}"

    def met(self, share: float) -> bool:
        assert self.target is not None
        return share <= self.target if self.at_most else share >= self.target


def _settings(misread: float, suffix: str = "") -> tuple[ReferenceSetting, ...]:
    def make(name: str, title: str, accuracy: float, **kwargs: object) -> ReferenceSetting:
        return ReferenceSetting(
            name + suffix,
            title,
            accuracy,
            misread_right=misread,
            misread_wrong=misread,
            **kwargs,  # type: ignore[arg-type]
        )

    return (
        make("aa", "the incumbent again", 0.85, same_model=True, expected=Verdict.FAIL,
             at_most=True, target=0.02),
        make("equal", "another model, as accurate", 0.85),
        make("worse_5pts", "another model, 5 points less accurate", 0.80),
        make("worse_10pts", "another model, 10 points less accurate", 0.75,
             expected=Verdict.FAIL, target=0.90, target_pairs=1000),
        make("better_5pts", "another model, 5 points more accurate", 0.90,
             expected=Verdict.FAIL, at_most=True, target=0.02),
    )  # fmt: skip


SETTINGS = _settings(0.03)
NOISY = tuple(s for s in _settings(0.08, "_noisy") if not s.name.startswith("better"))


def policy() -> GatePolicy:
    """The shipped policy sized for a golden set as docs/offline-gate.md sizes it (latency
    left to the shadow campaign), with the reference regression as its quality check: the
    changed-answer check is off, since with an expected answer "right" replaces "different"."""
    return load_policy(shipped_path("gate.yaml")).model_copy(
        update={
            "min_pairs": 150,
            "max_excess_divergence": None,
            "max_error_rate_increase": 0.03,
            "max_refusal_rate_increase": 0.05,
            "max_p95_latency_ratio": None,
            "max_p99_latency_ratio": None,
            "max_median_latency_ratio": None,
            "max_reference_regression": REGRESSION_LIMIT,
        }
    )


def accuracy_policy() -> GatePolicy:
    """:func:`policy` with the absolute floor instead of the paired comparison."""
    return policy().model_copy(
        update={"max_reference_regression": None, "min_reference_accuracy": ACCURACY_LIMIT}
    )


@dataclass(frozen=True)
class Truth:
    """One replay's ground truth and what the comparator read, item by item."""

    incumbent_right: BoolArray
    candidate_right: BoolArray
    incumbent_read: BoolArray
    candidate_read: BoolArray
    candidate_unscored: BoolArray


def _rng(setting: ReferenceSetting, seed: int, pairs: int) -> np.random.Generator:
    return np.random.default_rng([zlib.crc32(setting.name.encode()), seed, pairs])


def _answers(rng: np.random.Generator, accuracy: float, latent: FloatArray) -> BoolArray:
    """Which items a side answers right: its ability is set so that, over items and calls,
    it is right ``accuracy`` of the time (the latent's total variance is the scale)."""
    scale = math.sqrt(1.0 + ITEM_VARIANCE + MODEL_VARIANCE)
    ability = NormalDist().inv_cdf(accuracy) * scale
    right: BoolArray = ability + latent + rng.standard_normal(latent.size) > 0
    return right


def _read(rng: np.random.Generator, right: BoolArray, setting: ReferenceSetting) -> BoolArray:
    """What the comparator makes of each answer: its own misreads, independent per answer."""
    draw = rng.random(right.size)
    read: BoolArray = np.where(right, draw >= setting.misread_right, draw < setting.misread_wrong)
    return read


def generate(setting: ReferenceSetting, seed: int, pairs: int) -> Truth:
    rng = _rng(setting, seed, pairs)
    easiness = rng.normal(0.0, math.sqrt(ITEM_VARIANCE), pairs)
    own = rng.normal(0.0, math.sqrt(MODEL_VARIANCE), pairs)
    other = own if setting.same_model else rng.normal(0.0, math.sqrt(MODEL_VARIANCE), pairs)
    incumbent = _answers(rng, INCUMBENT_ACCURACY, easiness + own)
    candidate = _answers(rng, setting.candidate_accuracy, easiness + other)
    return Truth(
        incumbent,
        candidate,
        _read(rng, incumbent, setting),
        _read(rng, candidate, setting),
        rng.random(pairs) < setting.unscored,
    )


def _records(truth: Truth, seed: int) -> list[ScoreRecord]:
    rng = np.random.default_rng([seed, 7])
    kinds = rng.choice(len(KINDS), truth.incumbent_right.size)
    streams = rng.random(truth.incumbent_right.size) < 0.4
    latencies = rng.lognormal(6.5, 0.4, truth.incumbent_right.size)
    records = []
    for index in range(truth.incumbent_right.size):
        unscored = bool(truth.candidate_unscored[index])
        incumbent, candidate = bool(truth.incumbent_read[index]), bool(truth.candidate_read[index])
        kind = KINDS[int(kinds[index])]
        latency = float(latencies[index])
        values: dict[str, Value] = {
            "outcome.incumbent_error": False,
            "outcome.mirror_error": False,
            "outcome.incumbent_refusal": False,
            "outcome.mirror_refusal": False,
            "latency.incumbent_ms": latency,
            "latency.mirror_ms": latency,
            "latency.both_ok": True,
            "cost.incumbent_usd": 0.001,
            "cost.mirror_usd": 0.001,
            "reference.applicable": True,
            "reference.kind": REFERENCE_KINDS[kind],
            "reference.incumbent_match": incumbent,
            "reference.mirror_match": None if unscored else candidate,
            "reference.incumbent_score": float(incumbent),
            "reference.mirror_score": 0.0 if unscored else float(candidate),
            "reference.unscored": unscored,
        }
        records.append(
            ScoreRecord.model_construct(
                pair_id=f"item-{index:05d}",
                campaign="reference-calibration",
                timestamp=float(index),
                sample_rate=None,
                route="/v1/chat/completions",
                model="big-model-v1",
                mirror="cand",
                role=Role.CANDIDATE,
                mirror_model="small-model-v2",
                kind=kind,
                stream=bool(streams[index]),
                tags={},
                divergence=None,
                values=values,
                details={},
                breaches=[],
                comparator_errors=[],
                unscored=None,
            )
        )
    return records


@dataclass(frozen=True)
class Outcome:
    """One seed's verdict, the checks that decided it (the FAILing ones, all pairs and
    [segment]; else the INCONCLUSIVE ones on all pairs; none for a PASS) and the status of
    the reference check on all pairs."""

    verdict: Verdict
    decided_by: tuple[str, ...]
    reference: Verdict | None


def _outcome(result: GateResult, check: str) -> Outcome:
    if result.verdict is Verdict.FAIL:
        decided = tuple(
            c.name if c.segment is None else f"{c.name} [{c.segment}]" for c in result.failed()
        )
    elif result.verdict is Verdict.INCONCLUSIVE:
        decided = tuple(
            c.name for c in result.checks if c.segment is None and c.status is Verdict.INCONCLUSIVE
        )
    else:
        decided = ()
    status = next((c.status for c in result.checks if c.name == check and c.segment is None), None)
    return Outcome(result.verdict, decided, status)


def run_setting(
    setting: ReferenceSetting, seed: int, pairs: int, policies: Sequence[GatePolicy]
) -> list[Outcome]:
    """One replay of ``pairs`` items, judged by each policy (the records are shared)."""
    records = _records(generate(setting, seed, pairs), seed)
    found = []
    for chosen in policies:
        check = "reference_accuracy" if chosen.min_reference_accuracy else "reference_regression"
        found.append(_outcome(evaluate(records, chosen), check))
    return found


def attainable_pass(setting: ReferenceSetting, pairs: int, confidence: float = 0.95) -> float:
    """About the best PASS rate any one-sided test at ``confidence`` can have for this
    setting at this size (the normal approximation of its power), from the discordant shares
    the comparator reports on 2,000,000 generated items: an equal candidate sits on a knife
    edge at 1,000 items, where 200,000 items' sampling error alone moves the answer by points.
    It puts the measured PASS rate next to what the statistics allow."""
    truth = generate(setting, 10_000_000, 2_000_000)
    scored = ~truth.candidate_unscored
    p12 = float((truth.incumbent_read & ~truth.candidate_read & scored).mean() / scored.mean())
    p21 = float((~truth.incumbent_read & truth.candidate_read & scored).mean() / scored.mean())
    difference = p12 - p21
    n = pairs * float(scored.mean())
    sd = math.sqrt(max(p12 + p21 - difference**2, 1e-12) / n)
    z = NormalDist().inv_cdf(confidence)
    return NormalDist().cdf((REGRESSION_LIMIT - difference) / sd - z)


def _as_read(setting: ReferenceSetting, accuracy: float) -> float:
    """The accuracy the comparator reports for a side truly right ``accuracy`` of the time."""
    return accuracy * (1.0 - setting.misread_right) + (1.0 - accuracy) * setting.misread_wrong


@dataclass
class _Tally:
    """One table row's seeds: their verdicts, and the checks that decided the FAILs."""

    verdicts: Counter[Verdict]
    failed_by: Counter[str]

    def share(self, verdict: Verdict) -> float:
        return self.verdicts[verdict] / max(sum(self.verdicts.values()), 1)

    def cells(self) -> str:
        shares = " | ".join(f"{self.share(v):.1%}" for v in Verdict)
        failed = ", ".join(f"{name} ({n})" for name, n in self.failed_by.most_common(3))
        return f"{shares} | {failed or '—'}"


def _target(setting: ReferenceSetting, pairs: int, tally: _Tally) -> str:
    """The target, whether it was met, and the counted share's Wilson interval over seeds."""
    text = setting.target_text(pairs)
    if not text or setting.expected is None:
        return text
    seeds = sum(tally.verdicts.values())
    low, high = wilson_interval(tally.verdicts[setting.expected], seeds)
    met = "met" if setting.met(tally.share(setting.expected)) else "MISSED"
    return f"{text}: {met} [{low:.1%}, {high:.1%}]"


def _tallies(
    setting: ReferenceSetting, seeds: int, pairs: int, policies: Sequence[GatePolicy]
) -> list[_Tally]:
    tallies = [_Tally(Counter(), Counter()) for _ in policies]
    for seed in range(seeds):
        for tally, outcome in zip(
            tallies, run_setting(setting, seed, pairs, policies), strict=True
        ):
            tally.verdicts[outcome.verdict] += 1
            if outcome.verdict is Verdict.FAIL:
                tally.failed_by.update(outcome.decided_by)
    return tallies


_COLUMNS = "| PASS | FAIL | INCONCLUSIVE | FAIL decided by (seeds) |"
_ALIGN = "| ---: | ---: | ---: | --- |"


def tables(settings: Sequence[ReferenceSetting], seeds: int, sizes: Sequence[int]) -> str:
    """Both tables, as Markdown: the verdict under :func:`policy`, with the difference the
    comparator reports and the PASS rate the statistics allow, and under
    :func:`accuracy_policy`, with the accuracy the comparator reports. Progress on stderr."""
    chosen = (policy(), accuracy_policy())
    regression = [
        "| setting | candidate accuracy | misreads | pairs | seeds | regression as read "
        f"| PASS attainable {_COLUMNS} target |",
        f"| --- | ---: | ---: | ---: | ---: | ---: | ---: {_ALIGN} --- |",
    ]
    accuracy = [
        f"| setting | candidate accuracy | misreads | pairs | seeds | accuracy as read {_COLUMNS}",
        f"| --- | ---: | ---: | ---: | ---: | ---: {_ALIGN}",
    ]
    for pairs in sizes:
        for setting in settings:
            started = time.perf_counter()
            by_regression, by_accuracy = _tallies(setting, seeds, pairs, chosen)
            head = (
                f"| {setting.name} | {setting.candidate_accuracy:.0%} | "
                f"{setting.misread_right:.0%} | {pairs:,} | {seeds} |"
            )
            read = _as_read(setting, INCUMBENT_ACCURACY) - _as_read(
                setting, setting.candidate_accuracy
            )
            regression.append(
                f"{head} {read * 100:+.1f} pts | {attainable_pass(setting, pairs):.0%} | "
                f"{by_regression.cells()} | {_target(setting, pairs, by_regression)} |"
            )
            accuracy.append(
                f"{head} {_as_read(setting, setting.candidate_accuracy):.1%} | "
                f"{by_accuracy.cells()} |"
            )
            print(f"{regression[-1]} {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return "\n".join(
        [
            f"max_reference_regression: {REGRESSION_LIMIT}",
            "",
            *regression,
            "",
            f"min_reference_accuracy: {ACCURACY_LIMIT}",
            "",
            *accuracy,
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--pairs", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--noisy", action="store_true", help="also an 8%%-misreading comparator")
    parser.add_argument("--out", type=Path, default=None, help="write the tables here too")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    settings = (*SETTINGS, *NOISY) if args.noisy else SETTINGS
    text = tables(settings, args.seeds, args.pairs)
    text += f"\n\n{args.seeds} seeds per row; {time.perf_counter() - started:.0f} s in all\n"
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
