"""The divergence histogram bins by the rule the divergence rate counts by: a pair exactly on the
threshold is not above it, so it is never drawn right of the threshold line."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from comparators.report.build import build_report
from comparators.report.charts import divergence_chart
from comparators.report.histogram import BINS, divergence_edges, divergence_histogram
from comparators.report.model import Distributions
from tests.comparators.score_factories import replica, score


def _right_of(edges: list[float], counts: list[int], threshold: float) -> int:
    """The pairs a reader sees right of the threshold line."""
    return sum(c for lower, c in zip(edges, counts, strict=False) if lower >= threshold)


def test_pairs_exactly_on_the_threshold_sit_left_of_the_line_as_the_rate_counts_them() -> None:
    # The demo's shape: many JSON pairs at exactly 0.2 (one leaf in five changed), a few above.
    records = [score(f"on{i}", divergence=0.2) for i in range(209)]
    records += [score(f"up{i}", divergence=0.5) for i in range(3)]
    records += [score(f"id{i}", divergence=0.0) for i in range(40)]
    records += [replica(f"on{i}", divergence=0.2) for i in range(66)]
    report = build_report(records, divergence_threshold=0.2)
    row, dist = report.candidates[0].overall, report.candidates[0].distributions
    assert row.divergence_rate.value == pytest.approx(3 / 252)
    assert _right_of(dist.divergence_edges, dist.divergence_candidate, 0.2) == 3
    assert _right_of(dist.divergence_edges, dist.divergence_noise, 0.2) == 0
    on = dist.divergence_edges.index(0.2) - 1  # the bin (0.15, 0.2]
    assert (dist.divergence_candidate[on], dist.divergence_noise[on]) == (209, 66)
    assert dist.divergence_candidate[0] == 40  # [0, 0.05] holds the identical pairs


def test_edges_are_the_round_grid_with_the_threshold_added_when_it_is_off_grid() -> None:
    on_grid = divergence_edges(0.2)
    assert len(on_grid) == BINS + 1
    assert on_grid[3] == 0.15  # not 0.15000000000000002
    off_grid = divergence_edges(0.33)
    assert len(off_grid) == BINS + 2
    assert off_grid[off_grid.index(0.33) - 1 : off_grid.index(0.33) + 2] == [0.3, 0.33, 0.35]
    assert divergence_edges(0.1 + 0.2).count(0.3) == 0  # 0.30000000000000004 replaces 0.3


def test_missing_and_out_of_range_values() -> None:
    edges = divergence_edges(0.2)
    counts = divergence_histogram(np.array([np.nan, -0.5, 0.0, 1.0, 1.5]), edges)
    assert sum(counts) == 4
    assert (counts[0], counts[-1]) == (2, 2)


@given(
    st.lists(
        st.one_of(st.sampled_from([0.0, 0.05, 0.2, 0.25, 0.33, 1.0]), st.floats(0.0, 1.0)),
        max_size=60,
    ),
    st.one_of(st.sampled_from([0.05, 0.2, 0.33, 0.5, 0.95]), st.floats(0.001, 0.999)),
)
def test_bars_right_of_the_line_are_exactly_the_divergent_pairs(
    values: list[float], threshold: float
) -> None:
    edges = divergence_edges(threshold)
    counts = divergence_histogram(np.array(values, dtype=np.float64), edges)
    assert sum(counts) == len(values)
    assert _right_of(edges, counts, threshold) == sum(v > threshold for v in values)


def test_the_chart_draws_a_threshold_that_splits_a_bin() -> None:
    edges = divergence_edges(0.33)
    dist = Distributions(
        divergence_edges=edges,
        divergence_candidate=divergence_histogram(np.array([0.33, 0.34, 0.9]), edges),
        divergence_noise=divergence_histogram(np.array([0.0, 0.33]), edges),
    )
    svg = divergence_chart(dist, "cand", 0.33, "t-div")
    assert svg.startswith("<svg")
    assert "threshold (&gt; is divergent)" in svg
    assert svg.count('id="t-div-patch_') >= len(edges) * 2 - 2  # every bar of both series
