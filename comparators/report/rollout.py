"""The report's rollout section: the staged rollout's timeline, read from its audit stream
(:data:`proxy.recording.keys.rollout_audit_key`), so a reader of the report sees when each
step began, who or what moved it, and why a rollback happened, beside the numbers it was
judged on."""

from __future__ import annotations

import time
from collections.abc import Sequence

from comparators.report.model import RolloutEvent, RolloutTimeline
from proxy.rollout.state import Transition

__all__ = ["TIMELINE_COLUMNS", "rollout_timeline", "timeline_rows"]

TIMELINE_COLUMNS = ["when (UTC)", "change", "step", "share", "by", "why"]


def rollout_timeline(transitions: Sequence[Transition]) -> RolloutTimeline | None:
    """``None`` when the campaign was never rolled out; else its timeline, oldest first."""
    if not transitions:
        return None
    events = [
        RolloutEvent(
            time=t.time,
            action=t.action.value,
            from_phase=t.from_phase.value,
            to_phase=t.to_phase.value,
            step=t.to_step + 1,
            share=t.share,
            cause=t.cause,
            actor=t.actor,
            reason=t.reason,
        )
        for t in sorted(transitions, key=lambda t: (t.version, t.time))
    ]
    last = events[-1]
    return RolloutTimeline(
        candidate=max(transitions, key=lambda t: t.version).candidate,
        phase=last.to_phase,
        step=last.step,
        share=last.share,
        events=events,
    )


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds))


def timeline_rows(timeline: RolloutTimeline) -> list[list[str]]:
    """One row per change. Reasons and actors are free text: renderers must escape them."""
    return [
        [
            _when(event.time),
            f"{event.action}: {event.from_phase} → {event.to_phase}",
            str(event.step) if event.step else "—",
            f"{event.share:.4g}",
            f"{event.cause} ({event.actor})",
            event.reason,
        ]
        for event in timeline.events
    ]
