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
        "head_cpu_us": [1e6 / r for r in head],
        "base_cpu_us": [1e6 / r for r in base],
    }


@pytest.mark.parametrize(
    ("head", "within"),
    [
        ([6_000.0, 5_900.0, 3_000.0], True),  # one disturbed round: ratios 1, 1, 0.5
        ([5_760.0, 5_664.0, 5_808.0], True),  # 4% slower in every round
        ([5_580.0, 5_487.0, 5_626.5], False),  # 7% slower in every round
    ],
)
def test_the_verdict_is_on_the_median_of_paired_round_ratios(
    head: list[float], within: bool
) -> None:
    base = [6_000.0, 5_900.0, 6_050.0]
    result = summary(rounds(base, head), "aaa", "bbb")
    assert result["within_target"] is within
    ratios = sorted(h / b for h, b in zip(head, base, strict=True))
    assert result["head_over_base"] == pytest.approx(ratios[1])
    assert result["base_over_nginx"] == pytest.approx(0.6)
    text = markdown(result)
    assert ("**PASS**" if within else "**MISS**") in text
    assert f"at least {1.0 - MAX_SLOWDOWN:.2f}" in text
    assert text.count("\n| 3 |") == 1  # every round is shown
    assert "CPU per request" in text
