"""The report, gate and export commands: read a campaign from Redis, then judge or export it.

They never call a model; they read the score records (and, for worst pairs and export, the
pair records) of one campaign from the Redis its config names, or from the embedded one.

A campaign without a single pair record is an error, not an empty report: it is almost always
a misspelt name or the wrong Redis, and an empty report (or an INCONCLUSIVE gate) would hide
that. :class:`NoSuchCampaign` names the campaigns the Redis does hold.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from comparators.campaign import (
    CampaignSummary,
    LoadStats,
    count_pairs,
    list_campaigns,
    load_judgements,
    load_pairs,
    load_records,
    load_scores,
)
from comparators.export import (
    Manifest,
    export_golden_set,
    export_labeled,
    labeled_pair_ids,
    selected_pair_ids,
)
from comparators.gate.policy import GatePolicy
from comparators.gate.result import GateResult
from comparators.gate.verdict import evaluate
from comparators.judge.join import with_judgements
from comparators.judge.record import Judgement
from comparators.report.build import build_report, render_json
from comparators.report.html import render_html
from comparators.report.model import CampaignReport
from comparators.report.worst import build_worst_pairs, worst_pair_ids
from comparators.review.label import Label, load_labels
from comparators.scores import ScoreRecord
from comparators.tables import Grid
from proxy.config.recording import CLUSTER_SCHEMES, RecordingConfig, parse_cluster_url
from proxy.config.root import Config
from proxy.recording.keys import rollout_audit_key
from proxy.recording.setup import RedisClient, open_client
from proxy.rollout.state import Transition

__all__ = [
    "NoSuchCampaign",
    "ReportOutput",
    "campaigns_grid",
    "describe_redis",
    "export_campaign",
    "find_campaigns",
    "gate_campaign",
    "report_campaign",
]


def describe_redis(recording: RecordingConfig) -> str:
    """Which Redis a command read, for people: never the password of ``redis_url``."""
    if recording.redis_url is None:
        return f"the embedded Redis in {recording.data_dir}"
    scheme = recording.redis_url.partition("://")[0]
    if scheme.lower() in CLUSTER_SCHEMES:
        nodes = parse_cluster_url(recording.redis_url).nodes
        hosts = ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in nodes)
        return f"Redis Cluster {scheme}://{hosts}"
    parts = urlsplit(recording.redis_url)
    port = f":{parts.port}" if parts.port else ""
    return f"Redis {parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


class NoSuchCampaign(LookupError):
    """The campaign has no pair record in this Redis; ``known`` lists those it has."""

    def __init__(self, campaign: str, where: str, known: list[CampaignSummary]) -> None:
        self.campaign = campaign
        self.known = known
        found = ", ".join(f"{c.name} ({c.pairs} pairs, {c.scores} scores)" for c in known)
        super().__init__(
            f"campaign {campaign!r} has no pairs in {where}; "
            f"campaigns found: {found or 'none'}; expected one of them in --campaign "
            "or recording.campaign"
        )


@asynccontextmanager
async def _redis(config: Config) -> AsyncIterator[RedisClient]:
    async with open_client(config.recording) as client:
        yield client


@asynccontextmanager
async def _campaign(config: Config, campaign: str) -> AsyncIterator[RedisClient]:
    """The Redis client, once ``campaign`` is known to have pairs there."""
    async with _redis(config) as client:
        if await count_pairs(client, campaign) == 0:
            known = await list_campaigns(client)
            raise NoSuchCampaign(campaign, describe_redis(config.recording), known)
        yield client


async def find_campaigns(config: Config) -> list[CampaignSummary]:
    """The campaigns in the Redis ``config`` names, for ``darklaunch campaigns``."""
    async with _redis(config) as client:
        return await list_campaigns(client)


def campaigns_grid(config: Config, found: list[CampaignSummary]) -> Grid:
    """``darklaunch campaigns`` as a table, titled with the Redis it read (no password)."""
    grid = Grid(
        f"campaigns in {describe_redis(config.recording)}",
        ("campaign", "pairs", "scores"),
        keep_whole=frozenset({"campaign"}),
        right=frozenset({"pairs", "scores"}),
    )
    for summary in found:
        grid.add_row(summary.name, str(summary.pairs), str(summary.scores))
    return grid


@dataclass
class _Campaign:
    """What the report and the gate read: the scores (with the judge's verdicts joined in),
    the judgements themselves, the reviewers' labels and the rollout's audit trail."""

    scores: list[ScoreRecord]
    stats: LoadStats
    judgements: list[Judgement]
    labels: list[Label]
    rollout: list[Transition]


@dataclass
class ReportOutput:
    report: CampaignReport
    gate: GateResult | None
    text: str | None  # the JSON or HTML document; the table is rendered by the caller


async def _scores(
    client: RedisClient, campaign: str
) -> tuple[list[ScoreRecord], LoadStats, list[Judgement]]:
    """The campaign's scores, with the LLM judge's verdicts joined in (if a judge ran), and
    the judgements themselves."""
    stats = LoadStats()
    scores = await load_scores(client, campaign, stats=stats)
    judgements = await load_judgements(client, campaign)
    return with_judgements(scores, judgements), stats, judgements


async def _read(client: RedisClient, campaign: str) -> _Campaign:
    scores, stats, judgements = await _scores(client, campaign)
    labels = await load_labels(client, campaign)
    rollout = await load_records(client, rollout_audit_key(campaign), Transition)
    return _Campaign(scores, stats, judgements, labels, rollout)


async def report_campaign(
    config: Config,
    campaign: str,
    fmt: str,
    *,
    policy: GatePolicy | None = None,
    worst: int = 10,
    traffic_rps: float | None = None,
) -> ReportOutput:
    async with _campaign(config, campaign) as client:
        read = await _read(client, campaign)
        scores = read.scores
        report = build_report(
            scores,
            campaign=campaign,
            traffic_rps=traffic_rps,
            sample_rate=config.mirror.sample_rate,
            skipped_records=read.stats.skipped,
            judgements=read.judgements,
            labels=read.labels,
            rollout=read.rollout,
        )
        gate = None
        if policy is not None:
            gate = evaluate(scores, policy, judgements=read.judgements, labels=read.labels)
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
    async with _campaign(config, campaign) as client:
        read = await _read(client, campaign)
    return evaluate(
        read.scores,
        policy,
        candidate=candidate,
        judgements=read.judgements,
        labels=read.labels,
    )


async def export_campaign(
    config: Config,
    campaign: str,
    where: str | None,
    out_dir: Path,
    *,
    new: bool = False,
    labeled: bool = False,
    reviewer: str | None = None,
) -> Manifest:
    """Export as the next golden-set version, on the latest one unless ``new``: the pairs
    ``where`` selects, or with ``labeled`` the labeled ones (``reviewer``'s only, when named;
    those ``where`` selects too, when given)."""
    async with _campaign(config, campaign) as client:
        scores, _, _ = await _scores(client, campaign)
        if labeled:
            labels = await load_labels(client, campaign)
            ids = labeled_pair_ids(scores, labels, reviewer=reviewer, where=where)
            pairs = await load_pairs(client, campaign, ids)
            return export_labeled(
                scores, pairs, labels, out_dir, campaign, reviewer=reviewer, where=where, new=new
            )
        if where is None:
            raise ValueError("where: got None; expected a filter, or labeled=True")
        pairs = await load_pairs(client, campaign, selected_pair_ids(scores, where))
    return export_golden_set(scores, pairs, where, out_dir, campaign, new=new)
