"""``darklaunch replay`` wired together: the golden set read (:mod:`comparators.golden`), sent
(:mod:`proxy.replay`), scored (the comparator worker, once) and gated, one campaign.

A composition root like the rest of :mod:`proxy.cli`: it imports the analysis plane inside its
functions only.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from proxy.config.root import Config
from proxy.recording.encode import ExpectedData
from proxy.recording.setup import open_client
from proxy.replay.runner import Replayer, ReplayOptions, ReplaySummary
from proxy.replay.work import ReplayItem

if TYPE_CHECKING:
    from comparators.gate.policy import GatePolicy
    from comparators.gate.result import GateResult
    from comparators.golden.model import GoldenItem

__all__ = ["ReplayOutcome", "load_items", "replay_and_gate", "summary_json", "summary_lines"]


@dataclass(frozen=True, slots=True)
class ReplayOutcome:
    version: str
    campaign: str
    summary: ReplaySummary
    gate: GateResult | None


def load_items(golden: Path, version: str | None) -> tuple[str, list[ReplayItem], int]:
    """The version's items as replay needs them, and how many cannot be sent (a request
    recorded truncated, or not a JSON object)."""
    from comparators.golden.store import load_version

    loaded = load_version(golden, version)
    items: list[ReplayItem] = []
    unsendable = 0
    for item in loaded.items:
        if item.request_truncated or not isinstance(item.request, dict):
            unsendable += 1
            continue
        recorded = item.recorded.incumbent if item.recorded is not None else None
        items.append(
            ReplayItem(
                item.id, item.route, item.request, recorded, dict(item.tags), _expected(item)
            )
        )
    return loaded.manifest.version, items, unsendable


def _expected(item: GoldenItem) -> ExpectedData | None:
    """A golden item's reference answer in the record's shape."""
    expected = item.expected
    if expected is None:
        return None
    calls = expected.tool_calls
    return {
        "text": expected.text,
        "tool_calls": None
        if calls is None
        else [{"id": None, "name": c.name, "arguments": c.arguments} for c in calls],
        "value": expected.json_value,
    }


async def replay_and_gate(
    config: Config,
    items: list[ReplayItem],
    options: ReplayOptions,
    policy: GatePolicy | None,
    on_item: Callable[[ReplaySummary], None] | None = None,
) -> ReplayOutcome:
    """Replay, then (unless ``policy`` is ``None`` or the replay was stopped) score the
    campaign and gate it. SIGINT and SIGTERM stop the replay after the items in flight."""
    from comparators.commands import gate_campaign
    from comparators.service import run_worker

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with open_client(config.recording) as client:
            replayer = Replayer(config, options, client, on_item=on_item)
            summary = await replayer.run(items, stop)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    gate = None
    if policy is not None and not summary.interrupted and summary.already_done + summary.pairs:
        scoring = config.model_copy(
            update={"recording": config.recording.model_copy(update={"campaign": options.campaign})}
        )
        await run_worker(
            scoring, once=True, consumer="replay", serve_metrics=False, handle_signals=False
        )
        gate = await gate_campaign(scoring, options.campaign, policy)
    return ReplayOutcome(options.version, options.campaign, summary, gate)


def summary_lines(outcome: ReplayOutcome, unsendable: int) -> list[str]:
    """What the replay did, in a few lines (also the head of the Markdown summary)."""
    s = outcome.summary
    lines = [
        f"golden set {outcome.version} -> campaign {outcome.campaign}: {s.total} items, "
        f"{s.already_done} already replayed, {s.replayed} replayed now, {s.pairs} pairs written",
        "calls: " + (", ".join(f"{name} {n}" for name, n in sorted(s.calls.items())) or "none"),
    ]
    if s.retries:
        retried = ", ".join(f"{name} {n}" for name, n in sorted(s.retries.items()))
        lines.append(f"retried (429/5xx/connection): {retried}; waited {s.waited_s:.1f}s")
    if s.skipped:
        lines.append("skipped: " + ", ".join(f"{k} ({n})" for k, n in sorted(s.skipped.items())))
    if unsendable:
        lines.append(f"{unsendable} items not sendable (request recorded truncated): left out")
    if s.interrupted:
        lines.append(
            f"stopped with {s.remaining} items to go: run the same command again to continue "
            "(items already replayed are not asked again)"
        )
    return lines


def summary_json(outcome: ReplayOutcome) -> dict[str, object]:
    """The replay's counts as plain data, for ``--format json``."""
    s = outcome.summary
    return {
        "version": outcome.version,
        "campaign": outcome.campaign,
        "items": s.total,
        "already_done": s.already_done,
        "replayed": s.replayed,
        "pairs": s.pairs,
        "calls": dict(s.calls),
        "retries": dict(s.retries),
        "waited_s": round(s.waited_s, 3),
        "skipped": dict(s.skipped),
        "interrupted": s.interrupted,
    }
