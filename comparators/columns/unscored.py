"""Score records no comparator could score (``ScoreRecord.unscored``), set apart and counted.

An unscored record has no values at all. Left among the others it would be read as a pair
with nothing to flag: no divergence, no error, no breach, which is a clean result that nobody
measured. So the report and the gate take these out first, count them by mirror, route and
reason, and say so in their notes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from comparators.scores import ScoreRecord
from proxy.recording.schema import Role

__all__ = ["Unscored", "split_unscored"]


@dataclass(slots=True)
class Unscored:
    """How many (pair, mirror) records were unscored, by (mirror, route, reason)."""

    counts: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def notes(self) -> list[str]:
        """One note per mirror: how many of its pairs could not be scored, per route and
        reason, so a reader sees which traffic the verdict does not cover."""
        by_mirror: dict[str, list[str]] = {}
        totals: Counter[str] = Counter()
        for (mirror, route, reason), n in sorted(self.counts.items()):
            by_mirror.setdefault(mirror, []).append(f"{route} {n:,} ({reason})")
            totals[mirror] += n
        return [
            f"{totals[mirror]:,} pairs of {mirror} could not be scored and count in no number "
            f"or check: {', '.join(parts)}"
            for mirror, parts in by_mirror.items()
        ]


def split_unscored(records: Iterable[ScoreRecord]) -> tuple[list[ScoreRecord], Unscored]:
    """The scored records, and the count of the others (replicas included under their name)."""
    scored: list[ScoreRecord] = []
    unscored = Unscored()
    for record in records:
        if record.unscored is None:
            scored.append(record)
        else:
            name = "replica" if record.role is Role.REPLICA else record.mirror
            unscored.counts[(name, record.route, record.unscored)] += 1
    return scored, unscored
