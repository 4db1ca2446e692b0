"""The bench's targets are judged from the run's own figures; a missing figure is "not
measured", never a pass."""

from __future__ import annotations

import pytest

from loadtests.targets import SEMANTIC_MIN_PAIRS_PER_S, evaluate


@pytest.mark.parametrize(
    ("rate", "passed"),
    [(SEMANTIC_MIN_PAIRS_PER_S + 1, True), (SEMANTIC_MIN_PAIRS_PER_S - 1, False), (None, None)],
)
def test_the_semantic_rate_target(rate: float | None, passed: bool | None) -> None:
    data = {} if rate is None else {"comparators": {"semantic_pairs_per_s": rate}}
    [target] = [t for t in evaluate(data) if t.key == "semantic_pairs_per_s"]
    assert target.passed is passed
    assert ("not measured" in target.measured) is (rate is None)


@pytest.mark.parametrize(("rate", "passed"), [(15.6, True), (12.0, False), (None, None)])
def test_the_judge_target_is_a_share_of_its_concurrency_ceiling(
    rate: float | None, passed: bool | None
) -> None:
    judge = {"judged_mirrors_per_s": rate, "ceiling_mirrors_per_s": 20.0}
    data = {} if rate is None else {"comparators": {"judge": judge}}
    [target] = [t for t in evaluate(data) if t.key == "judge_share_of_ceiling"]
    assert target.passed is passed
    assert ("not measured" in target.measured) is (rate is None)
