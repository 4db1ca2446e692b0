"""Calibration study of the release gate: how often it says FAIL when it should and when it
should not, over many synthetic campaigns.

For each setting, ``--seeds`` campaigns are generated from the simulated model servers
(:mod:`loadtests.synthetic`: nondeterministic wording on every side, an incumbent replica on
half the pairs), scored with the real :class:`~comparators.engine.ScoringEngine` and judged by
:func:`comparators.gate.verdict.evaluate` with the shipped ``config/gate.yaml``. Targets (issue 5):

* A/A, a candidate with the incumbent's own distribution: FAIL in at most 5% of seeds;
* a candidate with 10 points more divergence: FAIL in at least 95%;
* a candidate with 30% higher p95 latency: FAIL in at least 95%, both when everything is 30%
  slower and when only the tail is (the median barely moves: Kayenta's blind spot).

Run ``python -m loadtests.calibration`` (about five minutes on two cores); it writes
``docs/calibration.md``. Seeds run in a process pool; every loop is bounded by the seed and
pair counts.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from comparators.engine import ScoringEngine
from comparators.gate.policy import GatePolicy, load_policy
from comparators.gate.result import GateResult, Verdict
from comparators.gate.verdict import evaluate
from loadtests.calibration_doc import write_doc
from loadtests.calibration_result import SeedOutcome, Setting, SettingResult
from loadtests.synthetic import PROMPTS, Behaviour, CampaignSpec, generate_pairs
from proxy.config.loading import parse_config
from proxy.config.root import Config
from proxy.sim.profile import SimProfile
from proxy.sim.text import stable_fraction

__all__ = ["main", "run_setting", "settings"]

PRICES = {"input_cost_per_token": 1e-6, "output_cost_per_token": 4e-6}
INCUMBENT = Behaviour(
    SimProfile(
        name="incumbent",
        model="inc-model",
        latency_ms=250,
        latency_jitter_ms=150,
        token_interval_ms=20,
        nondeterminism=0.3,
        error_rate=0.01,
        refusal_rate=0.02,
    ),
    branch_rate=0.05,
)
TAIL_SHARE = 0.08


def scoring_config() -> Config:
    return parse_config(
        {
            "incumbent": {"url": "http://127.0.0.1:9"},
            "prices": {"models": {"inc-model": PRICES, "cand-model": PRICES}},
            "budgets": {"latency_ms": 4000},
        }
    )


def tail_factor(target: float = 1.3, share: float = TAIL_SHARE, samples: int = 20_000) -> float:
    """The slow-call factor that raises the incumbent's p95 by ``target`` when ``share`` of
    calls are that much slower, found by bisection (40 steps) on a pilot sample of the
    incumbent's own latencies, so the setting means "+30% p95" whatever the latency model."""
    spec = CampaignSpec(INCUMBENT, INCUMBENT, pairs=samples, noise_rate=0.0)
    base = np.array([p.incumbent.latency_ms or 0.0 for p in generate_pairs(spec, 10_000_000)])
    slow = np.random.default_rng(0).random(base.size) < share
    reference = float(np.quantile(base, 0.95))
    low, high = 1.0, 20.0
    for _ in range(40):
        middle = (low + high) / 2
        ratio = float(np.quantile(np.where(slow, base * middle, base), 0.95)) / reference
        low, high = (middle, high) if ratio < target else (low, middle)
    return (low + high) / 2


def divergent_prompt_rate(excess: float = 0.10) -> float:
    """The simulator's per-prompt ``divergence_rate`` that puts the candidate ``excess`` above
    the noise floor *in expectation over this prompt pool*.

    A prompt the candidate always answers differently adds (1 - b)(1 - 2b) to the divergence
    rate over the floor (b is the per-call branch rate on both sides: the incumbent sometimes
    branches to the same divergent answer), only when neither side errs, (1 - e)^2, and never
    on prompts both refuse. Which prompts diverge is a stable hash of the prompt, so the rate
    is read off the pool's hashes rather than assumed uniform: a nominal 11.7% is 10.6% here.
    """
    p, b = INCUMBENT.profile, INCUMBENT.branch_rate
    per_prompt = (1 - p.error_rate) ** 2 * (1 - b) * (1 - 2 * b)
    hashes = sorted(
        stable_fraction(p.name, prompt, "diverge")
        for prompt in PROMPTS
        if stable_fraction(p.name, prompt, "refuse") >= p.refusal_rate
    )
    needed = round(excess / per_prompt * len(PROMPTS))
    if not 0 < needed < len(hashes):
        raise ValueError(f"excess: got {excess!r}; expected one this prompt pool can produce")
    return (hashes[needed - 1] + hashes[needed]) / 2


def settings(pairs: int, tail_pairs: int, factor: float) -> list[Setting]:
    same = Behaviour(INCUMBENT.profile.model_copy(update={"model": "cand-model"}), 0.05)
    divergent = same.profile.model_copy(update={"divergence_rate": divergent_prompt_rate()})
    return [
        Setting("aa", "A/A: candidate = incumbent's distribution", same, pairs, False),
        Setting(
            "divergence",
            "divergence +10 pts over the noise floor",
            Behaviour(divergent, 0.05),
            pairs,
            True,
        ),
        Setting("latency", "latency x1.3 (p95 +30%)", same.scaled(1.3), pairs, True),
        Setting(
            "tail",
            f"tail only: {TAIL_SHARE:.0%} of calls x{factor:.2f} (p95 +30%)",
            Behaviour(same.profile, 0.05, slow_share=TAIL_SHARE, slow_factor=factor),
            tail_pairs,
            True,
        ),
    ]


_ENGINE: ScoringEngine | None = None


def _engine() -> ScoringEngine:
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = ScoringEngine(scoring_config())
    return _ENGINE


def _value(result: GateResult, name: str) -> float | None:
    return next((c.value for c in result.checks if c.name == name), None)


def run_seed(setting: Setting, seed: int, policy: GatePolicy) -> SeedOutcome:
    """One synthetic campaign, scored and judged."""
    started = time.perf_counter()
    spec = CampaignSpec(INCUMBENT, setting.candidate, pairs=setting.pairs)
    engine = _engine()
    scores = [s for pair in generate_pairs(spec, seed) for s in engine.score(pair)]
    result = evaluate(scores, policy)
    return SeedOutcome(
        seed=seed,
        verdict=result.verdict,
        failed=tuple(c.name for c in result.failed()),
        inconclusive=tuple(c.name for c in result.checks if c.status is Verdict.INCONCLUSIVE),
        excess_divergence=_value(result, "excess_divergence"),
        p95_ratio=_value(result, "p95_latency_ratio"),
        median_ratio=_value(result, "median_latency_ratio"),
        seconds=time.perf_counter() - started,
    )


def run_setting(
    setting: Setting, seeds: Sequence[int], policy: GatePolicy, pool: ProcessPoolExecutor
) -> SettingResult:
    started = time.perf_counter()
    outcomes = list(
        pool.map(run_seed, [setting] * len(seeds), seeds, [policy] * len(seeds), chunksize=4)
    )
    return SettingResult(setting, outcomes, time.perf_counter() - started)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--pairs", type=int, default=3000)
    parser.add_argument("--tail-pairs", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--policy", type=Path, default=Path("config/gate.yaml"))
    parser.add_argument("--only", nargs="*", default=None, help="setting keys to run")
    parser.add_argument("--out", type=Path, default=Path("docs/calibration.md"))
    args = parser.parse_args(argv)
    policy = load_policy(args.policy) if args.policy.exists() else GatePolicy()
    started = time.perf_counter()
    factor = tail_factor()
    chosen = [
        s
        for s in settings(args.pairs, args.tail_pairs, factor)
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
    write_doc(
        args.out, results, policy, total_seconds=total, machine=machine, factor=factor,
        tail_share=TAIL_SHARE,
    )  # fmt: skip
    print(f"wrote {args.out} in {total:.0f}s")
    return 0 if all(r.met for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
