"""A columnar view of score records, shared by the report and the gate.

A campaign can hold a million score records, and the report slices them many ways (per
candidate, route and model). Pulling each value out of each record's dict once, into numpy
columns, and slicing with boolean masks keeps that linear and fast, and gives the report and
the gate one definition of "the candidate's error rate" instead of two.

Missing values stay missing: a float column holds NaN and a flag column holds -1 where a
record has no (or a mistyped) value, and every rate counts only records that have one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from comparators.columns.change import semantic_change
from comparators.gate.estimate import FloatArray
from comparators.scores import ScoreRecord
from proxy.recording.schema import Role

__all__ = [
    "FLAG_KEYS",
    "FLOAT_KEYS",
    "BoolArray",
    "ReferenceTally",
    "ScoreFrame",
    "dedupe",
    "split_roles",
]

BoolArray = npt.NDArray[np.bool_]
FlagArray = npt.NDArray[np.int8]

FLOAT_KEYS = (
    "text.similarity",
    "embedding.cosine",
    "embedding.divergence",
    "semantic.similarity",
    "latency.incumbent_ms",
    "latency.mirror_ms",
    "latency.incumbent_ttft_ms",
    "latency.mirror_ttft_ms",
    "cost.incumbent_usd",
    "cost.mirror_usd",
    "cost.delta_usd",
)
FLAG_KEYS = (
    "judge.mirror_better",
    "judge.incumbent_better",
    "text.applicable",
    "text.exact_match",
    "embedding.applicable",
    "json.applicable",
    "json.incumbent_valid",
    "json.mirror_valid",
    "tool_calls.applicable",
    "tool_calls.agree",
    "json.equal",
    "semantic.applicable",
    "semantic.changed",
    "semantic.facts_match",
    "outcome.mirror_win",
    "outcome.mirror_loss",
    "outcome.incumbent_error",
    "outcome.mirror_error",
    "outcome.incumbent_refusal",
    "outcome.mirror_refusal",
    "latency.both_ok",
    "reference.applicable",
    "reference.incumbent_match",
    "reference.mirror_match",
    "reference.unscored",
)
NO_MODEL = "(none)"


def dedupe(records: Iterable[ScoreRecord]) -> list[ScoreRecord]:
    """One record per (pair, mirror), the last one written winning: re-scoring a campaign
    appends to the stream, and counting a pair twice would shrink every interval falsely."""
    latest: dict[tuple[str, str], ScoreRecord] = {}
    for record in records:
        latest[(record.pair_id, record.mirror)] = record
    return list(latest.values())


def split_roles(
    records: Iterable[ScoreRecord],
) -> tuple[dict[str, list[ScoreRecord]], list[ScoreRecord]]:
    """Candidates by mirror name, and the replicas (all replica names pooled: each is the
    incumbent again, so together they are one noise sample)."""
    candidates: dict[str, list[ScoreRecord]] = {}
    replicas: list[ScoreRecord] = []
    for record in dedupe(records):
        if record.role is Role.REPLICA:
            replicas.append(record)
        elif record.role is Role.CANDIDATE:
            candidates.setdefault(record.mirror, []).append(record)
    for group in candidates.values():
        group.sort(key=lambda r: (r.timestamp, r.pair_id))
    replicas.sort(key=lambda r: (r.timestamp, r.pair_id))
    return dict(sorted(candidates.items())), replicas


def _floats(column: list[object]) -> FloatArray:
    # type() rather than isinstance(): a bool is an int but never a measurement. Inlined
    # because this runs once per record and key, which dominates a large report.
    return np.array(
        [x if type(x) is float else float(x) if type(x) is int else np.nan for x in column],
        dtype=np.float64,
    )


def _flags(column: list[object]) -> FlagArray:
    return np.array([1 if x is True else 0 if x is False else -1 for x in column], dtype=np.int8)


@dataclass(frozen=True, slots=True)
class ReferenceTally:
    """How the pairs with a reference answer (a golden item's expected answer, read by the
    ``reference`` comparator) came out: the counts both the gate's reference checks and the
    report's accuracy row are computed from, so the two cannot disagree.

    ``pairs`` carry a reference; ``unscored`` of them are left out because the comparator
    could not read one side or both (a match of ``None``, or ``reference.unscored``); the
    remaining ``n`` are scored, ``incumbent_right`` and ``candidate_right`` of them matched
    the reference, and ``only_incumbent`` / ``only_candidate`` matched on one side only (the
    discordant pairs a paired comparison reads)."""

    pairs: int = 0
    unscored: int = 0
    n: int = 0
    incumbent_right: int = 0
    candidate_right: int = 0
    only_incumbent: int = 0
    only_candidate: int = 0


@dataclass(frozen=True)
class ScoreFrame:
    """Columns of one group of score records; build with :meth:`of`, slice with :meth:`take`."""

    pair_ids: list[str]
    routes: npt.NDArray[np.object_]
    models: npt.NDArray[np.object_]
    timestamps: FloatArray
    divergence: FloatArray
    sample_rates: FloatArray  # NaN where the pair was recorded without one
    kinds: npt.NDArray[np.object_]  # None where the record predates segments
    streams: FlagArray  # 1 streamed, 0 plain, -1 unknown
    tags: list[dict[str, str]]
    semantic_changes: FlagArray  # comparators.columns.change.semantic_change per record
    floats: dict[str, FloatArray]
    flags: dict[str, FlagArray]
    breaches: list[list[str]] = field(default_factory=list)

    @classmethod
    def of(cls, records: Sequence[ScoreRecord]) -> ScoreFrame:
        values = [r.values for r in records]
        floats = {key: _floats([v.get(key) for v in values]) for key in FLOAT_KEYS}
        flags = {key: _flags([v.get(key) for v in values]) for key in FLAG_KEYS}
        return cls(
            pair_ids=[r.pair_id for r in records],
            routes=np.array([r.route for r in records], dtype=object),
            models=np.array([r.model or NO_MODEL for r in records], dtype=object),
            timestamps=np.fromiter((r.timestamp for r in records), np.float64, len(records)),
            divergence=_floats([r.divergence for r in records]),
            sample_rates=_floats([r.sample_rate for r in records]),
            kinds=np.array([r.kind for r in records], dtype=object),
            streams=_flags([r.stream for r in records]),
            tags=[r.tags for r in records],  # shared, never mutated
            semantic_changes=_flags([semantic_change(v) for v in values]),
            floats=floats,
            flags=flags,
            breaches=[r.breaches for r in records],  # shared, never mutated
        )

    def __len__(self) -> int:
        return len(self.pair_ids)

    def take(self, mask: BoolArray) -> ScoreFrame:
        index = np.flatnonzero(mask)
        return ScoreFrame(
            pair_ids=[self.pair_ids[i] for i in index],
            routes=self.routes[index],
            models=self.models[index],
            timestamps=self.timestamps[index],
            divergence=self.divergence[index],
            sample_rates=self.sample_rates[index],
            kinds=self.kinds[index],
            streams=self.streams[index],
            tags=[self.tags[i] for i in index],
            semantic_changes=self.semantic_changes[index],
            floats={k: v[index] for k, v in self.floats.items()},
            flags={k: v[index] for k, v in self.flags.items()},
            breaches=[self.breaches[i] for i in index],
        )

    def where_route(self, route: str) -> ScoreFrame:
        return self.take(self.routes == route)

    def where_model(self, model: str) -> ScoreFrame:
        return self.take(self.models == model)

    def count(self, key: str, within: BoolArray | None = None) -> tuple[int, int]:
        """(records where the flag is true, records where it is known), optionally only
        among ``within``."""
        column = self.flags[key]
        if within is not None:
            column = column[within]
        known = column >= 0
        return int((column == 1).sum()), int(known.sum())

    def discordant(self, first: str, second: str) -> tuple[int, int, int]:
        """(records where only ``first`` is true, where only ``second`` is, records where both
        flags are known): the counts a paired comparison of two rates needs."""
        a, b = self.flags[first], self.flags[second]
        known = (a >= 0) & (b >= 0)
        only_first = int((known & (a == 1) & (b == 0)).sum())
        only_second = int((known & (a == 0) & (b == 1)).sum())
        return only_first, only_second, int(known.sum())

    def flag(self, key: str) -> BoolArray:
        result: BoolArray = self.flags[key] == 1
        return result

    @property
    def with_reference(self) -> BoolArray:
        """Pairs replayed from a golden item with an expected answer (``reference.applicable``):
        the only pairs reference accuracy can be read on."""
        return self.flag("reference.applicable")

    def incumbent_matches(self) -> FlagArray:
        """Per pair: 1 when the incumbent's answer matches the reference, 0 when it does not,
        -1 when unknown (no reference, or the comparator could not read the answer)."""
        return self.flags["reference.incumbent_match"]

    def mirror_matches(self) -> FlagArray:
        """As :meth:`incumbent_matches`, for the candidate's (or replica's) answer."""
        return self.flags["reference.mirror_match"]

    def reference_scored(self) -> BoolArray:
        """Pairs with a reference whose two answers were both read against it: a pair with one
        side unread says nothing about either side's accuracy *relative to the other*, so the
        paired comparison and both accuracies count the same pairs."""
        scored: BoolArray = (
            self.with_reference
            & (self.incumbent_matches() >= 0)
            & (self.mirror_matches() >= 0)
            & (self.flags["reference.unscored"] != 1)
        )
        return scored

    def reference_tally(self) -> ReferenceTally:
        """The counts of :class:`ReferenceTally` for this frame."""
        pairs = int(self.with_reference.sum())
        if pairs == 0:
            return ReferenceTally()
        scored = self.reference_scored()
        incumbent = scored & (self.incumbent_matches() == 1)
        candidate = scored & (self.mirror_matches() == 1)
        return ReferenceTally(
            pairs=pairs,
            unscored=pairs - int(scored.sum()),
            n=int(scored.sum()),
            incumbent_right=int(incumbent.sum()),
            candidate_right=int(candidate.sum()),
            only_incumbent=int((incumbent & ~candidate).sum()),
            only_candidate=int((candidate & ~incumbent).sum()),
        )

    def divergent(self, threshold: float) -> tuple[int, int]:
        """(pairs whose headline divergence is above ``threshold``, pairs that have one)."""
        known = np.isfinite(self.divergence)
        return int((self.divergence[known] > threshold).sum()), int(known.sum())

    def changed(self, lexical_threshold: float | None = None) -> FlagArray:
        """Per pair: 1 when the mirror's answer says something else, 0 when it says the same,
        -1 when that is unknown (a side failed, or no view could read the answers).

        By default this is the *semantic* reading
        (:func:`comparators.columns.change.semantic_change`). With ``lexical_threshold`` it is
        the word-overlap reading instead: headline divergence above the threshold, on pairs
        where both sides answered."""
        if lexical_threshold is None:
            return self.semantic_changes
        known = np.isfinite(self.divergence) & self.both_ok
        lexical = np.where(known, (self.divergence > lexical_threshold).astype(np.int8), -1)
        return lexical.astype(np.int8)

    def streamed(self) -> BoolArray:
        result: BoolArray = self.streams == 1
        return result

    def segment_mask(self, dimension: str, value: str) -> BoolArray:
        """The pairs in segment ``dimension=value`` (see :mod:`comparators.columns.segments`)."""
        if dimension == "route":
            return np.asarray(self.routes == value, dtype=np.bool_)
        if dimension == "model":
            return np.asarray(self.models == value, dtype=np.bool_)
        if dimension == "kind":
            return np.asarray(self.kinds == value, dtype=np.bool_)
        if dimension == "stream":
            return np.asarray(self.streams == (1 if value == "streamed" else 0), dtype=np.bool_)
        key = dimension.removeprefix("tag:")
        return np.fromiter((t.get(key) == value for t in self.tags), np.bool_, len(self))

    def segments(self) -> dict[str, list[str]]:
        """Every dimension with more than one value here, and its values in a stable order:
        a dimension with one value is the whole frame again."""
        found: dict[str, set[str]] = {
            "route": set(self.routes.tolist()),
            "model": set(self.models.tolist()),
            "kind": {k for k in self.kinds.tolist() if k is not None},
            "stream": {"streamed" if s == 1 else "plain" for s in self.streams.tolist() if s >= 0},
        }
        for tags in self.tags:
            for key, value in tags.items():
                found.setdefault(f"tag:{key}", set()).add(value)
        return {dim: sorted(values) for dim, values in found.items() if len(values) > 1}

    @property
    def text_applicable(self) -> BoolArray:
        """Pairs the text rates count: all but those the text comparator marked not applicable
        (no text on either side) and embedding pairs, whose older score records carry a
        perfect text match of two empty texts."""
        result: BoolArray = (self.flags["text.applicable"] != 0) & (
            self.flags["embedding.applicable"] != 1
        )
        return result

    @property
    def both_ok(self) -> BoolArray:
        """Pairs where both sides answered: latency and cost are compared only on these, so a
        fast-failing candidate cannot look quick (its errors are counted as errors)."""
        flag = self.flags["latency.both_ok"]
        failed = (self.flags["outcome.incumbent_error"] == 1) | (
            self.flags["outcome.mirror_error"] == 1
        )
        result: BoolArray = np.where(flag >= 0, flag == 1, ~failed)
        return result

    def column(self, key: str, within: BoolArray | None = None) -> FloatArray:
        """The finite values of a float column, optionally only among ``within``."""
        values = self.floats[key]
        if within is not None:
            values = values[within]
        result: FloatArray = values[np.isfinite(values)]
        return result

    def breach_kinds(self) -> list[str]:
        return sorted({kind for kinds in self.breaches for kind in kinds})

    def breach_count(self, kind: str) -> int:
        return sum(1 for kinds in self.breaches if kind in kinds)
