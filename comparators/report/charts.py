"""Charts for the HTML report, drawn with matplotlib and returned as inline SVG text.

SVG keeps the report one self-contained file that opens offline and stays sharp when zoomed.
The figures are built with :class:`matplotlib.figure.Figure` directly, never ``pyplot``, so no
global figure state or GUI backend is involved and charts can be drawn from any thread.

matplotlib's SVG is made fit to inline: the XML prolog, DOCTYPE and RDF metadata (which carry
``http://`` namespace URLs) are removed, and element ids are prefixed per chart so two charts'
clip paths can never collide in one document.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Sequence
from typing import Any

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from comparators.report.model import Distributions

__all__ = ["cost_chart", "divergence_chart", "latency_chart", "svg_of"]

INCUMBENT_COLOUR = "#4c72b0"
CANDIDATE_COLOUR = "#dd8452"
NOISE_COLOUR = "#8c8c8c"
_RC: dict[Any, Any] = {
    "svg.fonttype": "none",  # text stays text: smaller, selectable, styled by the page
    "svg.hashsalt": "darklaunch",  # deterministic ids, so the same report renders the same
    "font.size": 9.0,
    "font.family": "sans-serif",
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_STRIP = (
    re.compile(r"<\?xml[^>]*\?>\s*"),
    re.compile(r"<!DOCTYPE[^>]*>\s*"),
    re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL),
    re.compile(r"<!--.*?-->\s*", re.DOTALL),
    re.compile(r'\s+xmlns(:\w+)?="[^"]*"'),
)
_ID = re.compile(r'\bid="([^"]+)"')


def svg_of(figure: Figure, prefix: str) -> str:
    """The figure as an ``<svg>`` element ready to paste into HTML."""
    buffer = io.StringIO()
    with matplotlib.rc_context(_RC):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    for pattern in _STRIP:
        svg = pattern.sub("", svg)
    for ident in set(_ID.findall(svg)):
        new = f"{prefix}-{ident}"
        svg = svg.replace(f'id="{ident}"', f'id="{new}"').replace(f"#{ident})", f"#{new})")
        svg = svg.replace(f'href="#{ident}"', f'href="#{new}"')
    return svg.replace("<svg ", f'<svg role="img" aria-label="{prefix}" ', 1).strip()


def _figure(panels: int) -> tuple[Figure, list[Axes]]:
    with matplotlib.rc_context(_RC):
        figure = Figure(figsize=(4.2 * panels, 3.0), layout="constrained")
        axes = figure.subplots(1, panels, squeeze=False)[0]
    return figure, list(axes)


def _ecdf(ax: Axes, values: Sequence[float], label: str, colour: str) -> None:
    if not values:
        return
    shares = [i / (len(values) - 1) for i in range(len(values))] if len(values) > 1 else [1.0]
    ax.plot(values, shares, label=label, color=colour, linewidth=1.6, drawstyle="steps-post")


def _finish(ax: Axes, title: str, xlabel: str, empty: bool) -> None:
    ax.set_title(title, loc="left", fontweight="bold")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("share of pairs at or below")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    if empty:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    else:
        ax.legend(loc="lower right", frameon=False)
    for q in (0.5, 0.95):
        ax.axhline(q, color="#bbbbbb", linewidth=0.8, linestyle=":")


def latency_chart(dist: Distributions, name: str, prefix: str) -> str:
    """Cumulative distributions of total latency and TTFT, incumbent against candidate: the
    horizontal lines at 0.5 and 0.95 read off p50 and p95 shifts directly."""
    figure, (total, ttft) = _figure(2)
    _ecdf(total, dist.latency_incumbent, "incumbent", INCUMBENT_COLOUR)
    _ecdf(total, dist.latency_candidate, name, CANDIDATE_COLOUR)
    _finish(total, "Total latency", "ms", not dist.latency_incumbent)
    _ecdf(ttft, dist.ttft_incumbent, "incumbent", INCUMBENT_COLOUR)
    _ecdf(ttft, dist.ttft_candidate, name, CANDIDATE_COLOUR)
    _finish(ttft, "Time to first token", "ms", not dist.ttft_incumbent)
    return svg_of(figure, prefix)


def cost_chart(dist: Distributions, name: str, prefix: str) -> str:
    figure, (ax,) = _figure(1)
    _ecdf(ax, dist.cost_incumbent, "incumbent", INCUMBENT_COLOUR)
    _ecdf(ax, dist.cost_candidate, name, CANDIDATE_COLOUR)
    _finish(ax, "Cost per query", "USD", not dist.cost_incumbent)
    ax.xaxis.set_major_locator(MaxNLocator(4))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"${value:.3g}"))
    return svg_of(figure, prefix)


def divergence_chart(dist: Distributions, name: str, threshold: float, prefix: str) -> str:
    """Histogram of headline divergence as shares of each side's pairs, so a candidate and a
    noise floor measured on fewer pairs compare directly; the dashed line is the threshold.

    Each bin holds the pairs in ``(lower, upper]`` and the threshold is a bin edge, so a pair
    exactly on the threshold is drawn left of the line, as the rate counts it (not above);
    the two bars of a bin share its width, whatever the width (the threshold may split one)."""
    figure, (ax,) = _figure(1)
    edges = dist.divergence_edges
    widths = [(upper - lower) / 2.2 for lower, upper in itertools.pairwise(edges)]
    for counts, label, colour, side in (
        (dist.divergence_candidate, name, CANDIDATE_COLOUR, 0),
        (dist.divergence_noise, "noise (replica)", NOISE_COLOUR, 1),
    ):
        total = sum(counts)
        if total and len(counts) == len(widths):
            shares = [c / total for c in counts]
            lefts = [e + side * w for e, w in zip(edges, widths, strict=False)]
            ax.bar(lefts, shares, width=widths, align="edge", color=colour, label=label)
    ax.axvline(
        threshold,
        color="#c44e52",
        linestyle="--",
        linewidth=1.0,
        label="threshold (> is divergent)",
    )
    ax.set_title("Headline divergence", loc="left", fontweight="bold")
    ax.set_xlabel("divergence (0 = same, 1 = different)")
    ax.set_ylabel("share of pairs")
    ax.set_xlim(0, 1)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(loc="upper right", frameon=False)
    return svg_of(figure, prefix)
