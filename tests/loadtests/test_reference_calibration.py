"""The reference calibration's settings, one seed each: the generated golden-set replay
through the real gate (``loadtests/reference_calibration.py``; the 1,000-seed figures are in
docs/calibration-reference.md). Each asserts the verdict of one seed at 1,000 items, under
the regression policy and the accuracy floor, and the check that decided it. The seed is 0
unless seed 0 gives a verdict the setting rarely gives (``worse_5pts_noisy``: seed 0 is among
the replays whose regression FAILs); for A/A and equal candidates PASS and INCONCLUSIVE are
both usual at this size, and never FAIL."""

from __future__ import annotations

import pytest

from comparators.gate.result import Verdict
from loadtests.reference_calibration import (
    INCUMBENT_ACCURACY,
    NOISY,
    SETTINGS,
    accuracy_policy,
    generate,
    policy,
    run_setting,
)

BY_NAME = {s.name: s for s in (*SETTINGS, *NOISY)}
PASS, FAIL, INCONCLUSIVE = Verdict.PASS, Verdict.FAIL, Verdict.INCONCLUSIVE
REGRESSION, ACCURACY = "reference_regression", "reference_accuracy"


@pytest.mark.parametrize(
    ("name", "seed", "by_regression", "by_accuracy"),
    [
        ("aa", 0, INCONCLUSIVE, PASS),
        ("equal", 0, INCONCLUSIVE, PASS),
        ("worse_5pts", 0, INCONCLUSIVE, INCONCLUSIVE),
        ("worse_10pts", 0, FAIL, FAIL),
        ("better_5pts", 0, PASS, PASS),
        ("aa_noisy", 0, PASS, INCONCLUSIVE),
        ("equal_noisy", 0, INCONCLUSIVE, INCONCLUSIVE),
        ("worse_5pts_noisy", 1, INCONCLUSIVE, FAIL),
        ("worse_10pts_noisy", 0, FAIL, FAIL),
    ],
)
def test_one_seed_gives_the_settings_verdict_and_the_check_that_decided_it(
    name: str, seed: int, by_regression: Verdict, by_accuracy: Verdict
) -> None:
    policies = (policy(), accuracy_policy())
    regression, accuracy = run_setting(BY_NAME[name], seed, 1000, policies)
    for outcome, verdict, check in (
        (regression, by_regression, REGRESSION),
        (accuracy, by_accuracy, ACCURACY),
    ):
        assert outcome.verdict is verdict
        assert outcome.reference is verdict  # the reference check is the one that decides
        if verdict is PASS:
            assert outcome.decided_by == ()
        else:
            assert check in outcome.decided_by  # a FAIL on all pairs, or the INCONCLUSIVE one
            assert all(c.startswith(check) for c in outcome.decided_by)


def test_the_generator_draws_the_settings_accuracies_and_correlation() -> None:
    """The ground truth is what the settings claim: the incumbent right 85% of the time, the
    candidate at its own accuracy, and the same model more alike than another model."""
    aa = generate(BY_NAME["aa"], 0, 50_000)
    equal = generate(BY_NAME["equal"], 0, 50_000)
    worse = generate(BY_NAME["worse_10pts"], 0, 50_000)
    assert aa.incumbent_right.mean() == pytest.approx(INCUMBENT_ACCURACY, abs=0.01)
    assert equal.candidate_right.mean() == pytest.approx(0.85, abs=0.01)
    assert worse.candidate_right.mean() == pytest.approx(0.75, abs=0.01)
    same = (aa.incumbent_right != aa.candidate_right).mean()
    other = (equal.incumbent_right != equal.candidate_right).mean()
    assert 0.05 < same < other < 0.25
    misread = (aa.incumbent_read != aa.incumbent_right).mean()
    assert misread == pytest.approx(0.03, abs=0.005)
    assert aa.candidate_unscored.mean() == pytest.approx(0.01, abs=0.003)
