"""The cohort: sticky, monotone as the share grows, its own slice of users, and the flag."""

from __future__ import annotations

import itertools
import random

import pytest

from proxy.config.rollout import RolloutConfig
from proxy.rollout.cohort import Cohort
from proxy.sampling import Sampler

KEYS = [f"user-{i}" for i in range(10_000)]
SHARES = [0.01, 0.05, 0.25, 0.5, 1.0]


def _cohort(**overrides: object) -> Cohort:
    config = RolloutConfig.model_validate(
        {"candidate": "cand", "cohort_key": "header:x-user-id", **overrides}
    )
    return Cohort(config, rng=random.Random(7))


def _members(cohort: Cohort, share: float) -> set[str]:
    return {key for key in KEYS if cohort.includes(share, {"x-user-id": key})}


def test_a_user_in_the_cohort_stays_in_it_as_the_share_grows() -> None:
    cohort = _cohort()
    members = [_members(cohort, share) for share in SHARES]
    for smaller, larger in itertools.pairwise(members):
        assert smaller <= larger  # monotone: nobody leaves the candidate on a step up
    for share, found in zip(SHARES, members, strict=True):
        # The hash spreads users evenly: within 4 standard errors of the share.
        spread = 4 * (share * (1 - share) / len(KEYS)) ** 0.5
        assert abs(len(found) / len(KEYS) - share) <= spread + 1e-9, (share, len(found))
    # And the same user gets the same answer every time, in any process (no random state).
    again = _cohort()
    assert _members(again, 0.05) == members[1]


def test_the_cohort_is_not_the_mirrors_sample_nor_another_candidates() -> None:
    cohort = _members(_cohort(), 0.25)
    sampler = Sampler(0.25, "header:x-user-id")
    mirrored = {key for key in KEYS if sampler.decide(sampler.key_of({"x-user-id": key}))}
    other = _members(_cohort(candidate="cand-b"), 0.25)
    # Independent slices overlap on about a quarter of each other, not all of it.
    for slice_ in (mirrored, other):
        overlap = len(cohort & slice_) / len(cohort)
        assert 0.2 < overlap < 0.3, overlap


def test_the_flag_header_forces_either_way_but_never_while_rolled_back() -> None:
    cohort = _cohort()
    outsider = next(key for key in KEYS if not cohort.includes(0.05, {"x-user-id": key}))
    flagged = {"x-user-id": outsider, "x-darklaunch-cohort": "Candidate"}
    assert cohort.includes(0.05, flagged)
    insider = next(key for key in KEYS if cohort.includes(0.05, {"x-user-id": key}))
    assert not cohort.includes(0.05, {"x-user-id": insider, "x-darklaunch-cohort": "incumbent"})
    assert not cohort.includes(0.0, flagged)  # dark or rolled back: nobody, flagged or not
    unflaggable = _cohort(flag_header=None)
    assert unflaggable.includes(0.05, flagged) is unflaggable.includes(
        0.05, {"x-user-id": outsider}
    )


def test_json_keys_and_keyless_requests() -> None:
    cohort = Cohort(
        RolloutConfig.model_validate({"candidate": "c", "cohort_key": "json:metadata.user"}),
        rng=random.Random(3),
    )
    assert cohort.needs_body
    body = {"metadata": {"user": "alice"}}
    assert cohort.key_of({}, body) == b"alice"
    decisions = {cohort.includes(0.5, {}, body) for _ in range(20)}
    assert len(decisions) == 1  # keyed: always the same
    keyless = [cohort.includes(0.3, {}, {"messages": []}) for _ in range(4000)]
    assert 0.25 < sum(keyless) / len(keyless) < 0.35  # a coin flip at the share


@pytest.mark.parametrize(
    ("steps", "problem"),
    [([], "at least one step"), ([0.5, 0.25], "strictly increasing"), ([0, 1], "greater than 0")],
)
def test_steps_are_checked(steps: list[float], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        RolloutConfig.model_validate({"candidate": "c", "steps": steps})


def test_bare_shares_take_the_rollouts_defaults() -> None:
    config = RolloutConfig.model_validate(
        {"candidate": "c", "steps": [0.1, {"share": 1, "min_pairs": 9}], "min_step_pairs": 50}
    )
    assert [step.share for step in config.steps] == [0.1, 1.0]
    assert (config.step_pairs(0), config.step_pairs(1)) == (50, 9)
    assert config.step_duration_s(0) == 600.0
