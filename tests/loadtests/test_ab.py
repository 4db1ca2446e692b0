"""The A/B harness (``loadtests/ab.py``) judges a change on the medians of interleaved rounds:
one slow round does not sink it, and a real slowdown past 5% is a MISS."""

from __future__ import annotations

import pytest

from loadtests.ab import MAX_SLOWDOWN, markdown, summary


def rounds(base: list[float], head: list[float]) -> dict[str, list[float]]:
    return {
        "head": head,
        "base": base,
        "nginx_mirror": [10_000.0] * len(base),
        "recorded": [1.0] * (2 * len(base)),
    }


@pytest.mark.parametrize(
    ("head", "within"),
    [
        ([6_000.0, 6_100.0, 3_000.0], True),  # one disturbed round: the medians are 6,000 each
        ([5_800.0, 5_750.0, 5_900.0], True),  # 4% slower
        ([5_600.0, 5_650.0, 5_500.0], False),  # 6.7% slower
    ],
)
def test_the_verdict_is_on_the_ratio_of_medians(head: list[float], within: bool) -> None:
    result = summary(rounds([6_000.0, 5_900.0, 6_050.0], head), "aaa", "bbb")
    assert result["within_target"] is within
    assert result["head_over_base"] == pytest.approx(sorted(head)[1] / 6_000.0)
    assert result["base_over_nginx"] == pytest.approx(0.6)
    text = markdown(result)
    assert ("**PASS**" if within else "**MISS**") in text
    assert f"at least {1.0 - MAX_SLOWDOWN:.2f}" in text
    assert text.count("\n| 3 |") == 1  # every round is shown
