"""Calibration study of the release gate: how often it says what it should, over many
realistic campaigns.

Each seed is one campaign from :mod:`loadtests.realistic`: answers that read like a model's,
worded afresh on every side and call (so an equally good candidate words things differently),
with the content right, defensibly different (the noise floor), or wrong in a subtle way (one
number, name, date, amount or negation; one JSON field; one tool argument) or a gross one.
Every campaign is scored by the real :class:`~comparators.engine.ScoringEngine` and judged by
:func:`comparators.gate.verdict.evaluate` with the shipped ``gate.yaml`` (a setting may change
a key, such as a TTFT limit). The targets are issue 15's acceptance:

* A/A: FAIL in at most 2% of seeds; equally good candidates that are more verbose, terser,
  worded their own way or formatted as markdown: PASS in at least 90%;
* +10 points of substantive errors, half of them subtle: FAIL in at least 90% at n=2,000;
* +3.5 points of refusals worded in ways no phrase list holds: FAIL in at least 95%;
* every limit exactly met: FAIL in at most 5% (the family-wise rate the gate controls);
* one segment at 4% of traffic (tool calls), fully broken: FAIL in at least 95% at n=5,000;
* median faster with p99 doubled (at n=5,000: a p99 at n=2,000 rests on 20 requests), and
  streamed TTFT doubled: FAIL in at least 95%;
* incumbent 400s the candidate answers: FAIL in at most 5%; 5% transient incumbent errors
  with +12 points of errors: FAIL in at least 95%.

Run ``python -m loadtests.calibration`` (about half an hour on two cores; ``--seeds`` and
``--only`` for less); it writes ``docs/calibration.md``. Seeds run in a process pool; every
loop is bounded by the seed and pair counts.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from comparators.engine import ScoringEngine
from comparators.gate.policy import GatePolicy, load_policy
from comparators.gate.result import GateResult, Verdict
from comparators.gate.verdict import evaluate
from loadtests.calibration_doc import write_doc
from loadtests.calibration_result import Goal, SeedOutcome, Setting, SettingResult
from loadtests.realistic import DEFAULT_MIX, CandidateBehaviour, Scenario, generate_with_truth
from proxy.config.loading import parse_config
from proxy.config.root import Config
from proxy.shipped.files import shipped_path
from proxy.sim.answers import Kind

__all__ = ["main", "run_seed", "scoring_config", "settings"]

# The comparators the gate reads: quality (semantic, json, tool_calls), outcomes, latency.
COMPARATORS = ("semantic", "json", "tool_calls", "outcome", "latency")


def scoring_config() -> Config:
    return parse_config(
        {
            "incumbent": {"url": "http://127.0.0.1:9"},
            "comparators": {name: {} for name in COMPARATORS},
        }
    )


def _scenario(pairs: int, **candidate: object) -> Scenario:
    return Scenario(pairs=pairs, candidate=CandidateBehaviour(**candidate))  # type: ignore[arg-type]


def _thin_tool_calls(share: float) -> tuple[tuple[Kind, float], ...]:
    """The default mix with tool calls at ``share`` of all requests."""
    others = sum(weight for kind, weight in DEFAULT_MIX if kind != "tool_call")
    tools = share * others / (1.0 - share)
    return tuple((kind, tools if kind == "tool_call" else w) for kind, w in DEFAULT_MIX)


def settings(pairs: int = 2000, segment_pairs: int = 5000) -> list[Setting]:
    ttft = (("max_p95_ttft_ratio", 1.2),)
    at_limits = _scenario(
        pairs,
        substantive_error_rate=0.05,  # +5 pts of wrong answers (subtle ones partly unseen)
        error_rate=0.02,  # incumbent transient rate 1% + 1 pt
        refusal_increase=0.0105,  # +1 pt of all pairs (drawn among the ~95% comparable)
        latency_factor=1.2,  # median, p95 and streamed TTFT ratios at 1.2
    )
    return [
        Setting(
            "aa", "A/A: the incumbent's own distribution", _scenario(pairs), Goal.FAIL_AT_MOST, 0.02
        ),
        *(
            Setting(
                style,
                f"equally good, {title}",
                _scenario(pairs, style=style),
                Goal.PASS_AT_LEAST,
                0.90,
            )
            for style, title in (
                ("verbose", "more verbose"),
                ("terse", "terser"),
                ("own", "worded its own way"),
                ("markdown", "markdown instead of plain"),
            )
        ),
        Setting(
            "errors",
            "+10 pts wrong answers, half subtle, mixed wording",
            _scenario(pairs, style="mixed", substantive_error_rate=0.10),
            Goal.FAIL_AT_LEAST,
            0.90,
        ),
        Setting(
            "refusals",
            "+3.5 pts refusals, worded without the stock phrases",
            _scenario(pairs, refusal_increase=0.035),
            Goal.FAIL_AT_LEAST,
            0.95,
        ),
        Setting("limits", "every limit exactly met", at_limits, Goal.FAIL_AT_MOST, 0.05, ttft),
        Setting(
            "segment",
            "tool calls at 4% of traffic, all broken",
            dataclasses.replace(
                _scenario(segment_pairs, broken_kind="tool_call"), mix=_thin_tool_calls(0.04)
            ),
            Goal.FAIL_AT_LEAST,
            0.95,
        ),
        Setting(
            "tail",
            "median 18% faster, p99 x2",
            _scenario(segment_pairs, median_factor=0.82, tail_share=0.02, tail_factor=2.5),
            Goal.FAIL_AT_LEAST,
            0.95,
        ),
        Setting(
            "ttft",
            "streamed TTFT x2 (max_p95_ttft_ratio 1.2)",
            _scenario(pairs, ttft_factor=2.0),
            Goal.FAIL_AT_LEAST,
            0.95,
            ttft,
        ),
        Setting(
            "latency",
            "every latency x1.3",
            _scenario(pairs, latency_factor=1.3),
            Goal.FAIL_AT_LEAST,
            0.95,
        ),
        Setting(
            "context400",
            "incumbent 400s on 10%, the candidate answers them",
            dataclasses.replace(_scenario(pairs), incumbent_http400_rate=0.10),
            Goal.FAIL_AT_MOST,
            0.05,
        ),
        Setting(
            "transient",
            "5% transient incumbent errors, +12 pts wrong answers",
            dataclasses.replace(
                _scenario(pairs, style="mixed", substantive_error_rate=0.12, error_rate=0.01),
                incumbent_transient_rate=0.05,
            ),
            Goal.FAIL_AT_LEAST,
            0.95,
        ),
    ]


_ENGINE: ScoringEngine | None = None


def _engine() -> ScoringEngine:
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = ScoringEngine(scoring_config())
    return _ENGINE


def _value(result: GateResult, name: str) -> float | None:
    return next((c.value for c in result.checks if c.name == name and c.segment is None), None)


def _name(check_name: str, segment: str | None) -> str:
    return check_name if segment is None else f"{check_name} [{segment}]"


def run_seed(setting: Setting, seed: int, policy: GatePolicy) -> SeedOutcome:
    """One realistic campaign, scored and judged."""
    started = time.perf_counter()
    records, truths = generate_with_truth(setting.scenario, seed)
    engine = _engine()
    scores = [s for record in records for s in engine.score(record)]
    if setting.policy:
        policy = policy.model_copy(update=dict(setting.policy))
    result = evaluate(scores, policy)
    wrong = sum(1 for t in truths if t.wrong)
    return SeedOutcome(
        seed=seed,
        verdict=result.verdict,
        failed=tuple(_name(c.name, c.segment) for c in result.failed()),
        inconclusive=tuple(
            c.name for c in result.checks if c.status is Verdict.INCONCLUSIVE and c.segment is None
        ),
        excess_change=_value(result, "excess_divergence"),
        p95_ratio=_value(result, "p95_latency_ratio"),
        p99_ratio=_value(result, "p99_latency_ratio"),
        median_ratio=_value(result, "median_latency_ratio"),
        ttft_ratio=_value(result, "p95_ttft_ratio"),
        wrong_share=wrong / len(truths) if truths else 0.0,
        seconds=time.perf_counter() - started,
    )


def run_setting(
    setting: Setting, seeds: Sequence[int], policy: GatePolicy, pool: ProcessPoolExecutor
) -> SettingResult:
    started = time.perf_counter()
    outcomes = list(
        pool.map(run_seed, [setting] * len(seeds), seeds, [policy] * len(seeds), chunksize=2)
    )
    return SettingResult(setting, outcomes, time.perf_counter() - started)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--segment-pairs", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--policy", type=Path, default=shipped_path("gate.yaml"))
    parser.add_argument("--only", nargs="*", default=None, help="setting keys to run")
    parser.add_argument("--out", type=Path, default=Path("docs/calibration.md"))
    args = parser.parse_args(argv)
    policy = load_policy(args.policy)
    started = time.perf_counter()
    chosen = [
        s
        for s in settings(args.pairs, args.segment_pairs)
        if args.only is None or s.key in args.only
    ]
    results: list[SettingResult] = []
    seeds = list(range(1, args.seeds + 1))
    with ProcessPoolExecutor(max_workers=max(1, args.workers)) as pool:
        for setting in chosen:
            result = run_setting(setting, seeds, policy, pool)
            results.append(result)
            print(
                f"{setting.key:<11} FAIL {result.count(Verdict.FAIL):>3}  "
                f"PASS {result.count(Verdict.PASS):>3}  "
                f"INCONCLUSIVE {result.count(Verdict.INCONCLUSIVE):>3}  "
                f"{result.wall_seconds:6.1f}s  {'ok' if result.met else 'MISSED'}",
                flush=True,
            )
    total = time.perf_counter() - started
    machine = f"{platform.python_implementation()} {platform.python_version()}, "
    machine += f"{os.cpu_count()} CPUs, {args.workers} worker processes"
    write_doc(args.out, results, policy, total_seconds=total, machine=machine)
    print(f"wrote {args.out} in {total:.0f}s")
    return 0 if all(r.met for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
