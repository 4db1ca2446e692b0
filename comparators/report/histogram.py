"""The divergence histogram, binned by the rule the divergence rate counts by.

The rate counts a pair as divergent when its divergence is *above* the threshold, so a pair
sitting exactly on it is not divergent. Such pairs are common: a JSON answer with one leaf of
five changed scores exactly 0.2, the default threshold. numpy's bins are closed on the left,
``[a, b)``, which drew those pairs as a tall bar just past the threshold line while the rate
said 0%. Here every bin is closed on the right, ``(a, b]`` (the first one, ``[0, b]``, also
holds the zeros), and the threshold is always an edge, so the bars right of the threshold line
add up to exactly the pairs the rate counts. (A threshold of 0 is the one exception: its first
bar holds the identical pairs, at exactly 0, with the least divergent ones.)
"""

from __future__ import annotations

import numpy as np

from comparators.gate.estimate import FloatArray

__all__ = ["BINS", "divergence_edges", "divergence_histogram"]

BINS = 20
# Grid edges this close to the threshold are dropped rather than drawn as a sliver of a bin.
_SAME_EDGE = 1e-9


def divergence_edges(threshold: float) -> list[float]:
    """``BINS`` equal bins over [0, 1], plus the threshold as an edge when it falls inside
    one (0.33 splits the 0.30–0.35 bin). Grid edges are rounded so that 0.15 is 0.15, not
    ``0.15000000000000002``."""
    grid = [round(i / BINS, 10) for i in range(BINS + 1)]
    return sorted({threshold, *(e for e in grid if abs(e - threshold) > _SAME_EDGE)})


def divergence_histogram(values: FloatArray, edges: list[float]) -> list[int]:
    """Pairs per bin ``(edges[i], edges[i + 1]]``; missing values (NaN) are left out, and
    anything outside [0, 1] is counted in the end bin it lies beyond."""
    finite = values[np.isfinite(values)]
    index = np.searchsorted(np.asarray(edges), finite, side="left") - 1
    bins = len(edges) - 1
    counts = np.bincount(np.clip(index, 0, bins - 1), minlength=bins)
    return [int(c) for c in counts]
