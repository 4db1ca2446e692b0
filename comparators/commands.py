"""The report, gate and export commands: read a campaign from Redis, then judge or export it.

They never call a model; they read the score records (and, for worst pairs and export, the
pair records) of one campaign from the Redis its config names, or from the embedded one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis

from comparators.campaign import LoadStats, load_pairs, load_scores
from comparators.export import Manifest, export_golden_set, selected_pair_ids
from comparators.gate.policy import GatePolicy
from comparators.gate.result import GateResult
from comparators.gate.verdict import evaluate
from comparators.report.build import build_report, render_json
from comparators.report.html import render_html
from comparators.report.model import CampaignReport
from comparators.report.worst import build_worst_pairs, worst_pair_ids
from comparators.scores import ScoreRecord
from proxy.config.root import Config
from proxy.recording.setup import resolve_redis

__all__ = ["ReportOutput", "export_campaign", "gate_campaign", "report_campaign"]


@asynccontextmanager
async def _redis(config: Config) -> AsyncIterator[aioredis.Redis]:
    async with resolve_redis(config.recording) as url:
        client = aioredis.Redis.from_url(url)
        try:
            yield client
        finally:
            await client.aclose()


@dataclass
class ReportOutput:
    report: CampaignReport
    gate: GateResult | None
    text: str | None  # the JSON or HTML document; the table is rendered by the caller


async def _scores(client: aioredis.Redis, campaign: str) -> tuple[list[ScoreRecord], LoadStats]:
    stats = LoadStats()
    return await load_scores(client, campaign, stats=stats), stats


async def report_campaign(
    config: Config,
    campaign: str,
    fmt: str,
    *,
    policy: GatePolicy | None = None,
    worst: int = 10,
    traffic_rps: float | None = None,
) -> ReportOutput:
    async with _redis(config) as client:
        scores, stats = await _scores(client, campaign)
        report = build_report(
            scores,
            campaign=campaign,
            traffic_rps=traffic_rps,
            sample_rate=config.mirror.sample_rate,
            skipped_records=stats.skipped,
        )
        gate = evaluate(scores, policy) if policy is not None else None
        if fmt == "json":
            return ReportOutput(report, gate, render_json(report))
        if fmt == "html":
            pairs = await load_pairs(client, campaign, worst_pair_ids(scores, worst))
            page = render_html(report, build_worst_pairs(scores, pairs, worst), gate)
            return ReportOutput(report, gate, page)
        return ReportOutput(report, gate, None)


async def gate_campaign(
    config: Config, campaign: str, policy: GatePolicy, *, candidate: str | None = None
) -> GateResult:
    async with _redis(config) as client:
        scores, _ = await _scores(client, campaign)
    return evaluate(scores, policy, candidate=candidate)


async def export_campaign(config: Config, campaign: str, where: str, out_dir: Path) -> Manifest:
    async with _redis(config) as client:
        scores, _ = await _scores(client, campaign)
        pairs = await load_pairs(client, campaign, selected_pair_ids(scores, where))
    return export_golden_set(scores, pairs, where, out_dir, campaign)
