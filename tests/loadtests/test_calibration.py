"""The calibration study's building blocks, on campaigns small enough for a unit test; the
study itself is ``python -m loadtests.calibration``."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from comparators.gate.policy import GatePolicy
from comparators.gate.result import Verdict
from loadtests.calibration import (
    INCUMBENT,
    divergent_prompt_rate,
    run_seed,
    settings,
)
from loadtests.synthetic import CampaignSpec, generate_pairs
from proxy.recording.schema import Role


def test_campaigns_are_reproducible_and_carry_replicas() -> None:
    spec = CampaignSpec(INCUMBENT, INCUMBENT, pairs=300)
    first = list(generate_pairs(spec, 7))
    again = list(generate_pairs(spec, 7))
    assert [p.model_dump() for p in first] == [p.model_dump() for p in again]
    replicas = sum(any(m.role is Role.REPLICA for m in p.mirrors) for p in first)
    assert 100 < replicas < 200  # noise_rate 0.5
    texts = {p.incumbent.output.text for p in first if p.incumbent.output is not None}
    assert len(texts) > 250  # nondeterministic wording, many prompts


def test_scaled_behaviour_scales_latency() -> None:
    slow = INCUMBENT.scaled(1.3)
    base = [
        p.incumbent.latency_ms for p in generate_pairs(CampaignSpec(INCUMBENT, INCUMBENT, 400), 1)
    ]
    scaled = [p.incumbent.latency_ms for p in generate_pairs(CampaignSpec(slow, slow, 400), 1)]
    ratio = np.median(np.array(scaled, dtype=float)) / np.median(np.array(base, dtype=float))
    assert ratio == pytest.approx(1.3, rel=0.02)


def test_divergent_prompt_rate_is_above_the_nominal_ten_points() -> None:
    assert 0.10 < divergent_prompt_rate(0.10) < 0.2


def test_a_small_regression_campaign_fails_and_an_aa_one_does_not() -> None:
    chosen = {s.key: s for s in settings(pairs=800, tail_pairs=800, factor=2.4)}
    policy = GatePolicy(min_pairs=100)
    aa = run_seed(chosen["aa"], 1, policy)
    slow = run_seed(
        dataclasses.replace(chosen["latency"], candidate=INCUMBENT.scaled(2.0)), 1, policy
    )
    assert aa.verdict is not Verdict.FAIL
    assert slow.verdict is Verdict.FAIL
    assert "p95_latency_ratio" in slow.failed
