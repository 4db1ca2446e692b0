"""The comparator worker on a real Redis: every (pair, mirror) scored exactly once, even when a
worker is killed mid-batch, and its metrics read the way the gate does."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import yaml
from prometheus_client import CollectorRegistry

from comparators.columns.frame import ScoreFrame
from comparators.scores import ScoreRecord
from comparators.service import run_worker
from proxy.config.loading import parse_config
from proxy.config.root import Config
from proxy.recording.keys import CONSUMER_GROUP, dead_key, pairs_key, scores_key
from proxy.recording.schema import Choice, ErrorInfo, Output, PairRecord, RequestInfo, Role, Side
from tests.conftest import stream_entries

WORDS = (
    "the", "quick", "brown", "fox", "jumps", "over", "the", "lazy",
    "dog", "while", "the", "cat", "sleeps", "in", "the", "sun",
)  # fmt: skip


PRICES = str(Path(__file__).resolve().parents[2] / "config" / "prices.json")


def _text(seed: int, length: int = 1000) -> str:
    words = [WORDS[(seed * 7 + i * 3) % len(WORDS)] for i in range(length // 5)]
    return " ".join(words)[:length]


def make_pair(i: int, campaign: str) -> PairRecord:
    def side(role: Role, name: str, text: str, latency: float) -> Side:
        usage = {"prompt_tokens": 20, "completion_tokens": 250, "total_tokens": 270}
        return Side(
            role=role,
            name=name,
            model="big-model-v1" if role is Role.INCUMBENT else "small-model-v2",
            status=200,
            latency_ms=latency,
            ttft_ms=latency / 4,
            output=Output(choices=[Choice(text=text, finish_reason="stop")], usage=usage),
        )

    mirrors = [side(Role.CANDIDATE, "cand", _text(i + (i % 3 == 0)), 80.0)]
    if i % 5 == 0:
        mirrors.append(side(Role.REPLICA, "replica", _text(i), 110.0))
    if i % 7 == 0:
        mirrors[0] = Side(
            role=Role.CANDIDATE, name="cand", error=ErrorInfo(kind="timeout", message="slow")
        )
    return PairRecord(
        pair_id=f"pair-{i:06d}",
        campaign=campaign,
        timestamp=time.time(),
        route="/v1/chat/completions",
        method="POST",
        request=RequestInfo(
            body={"model": "big-model-v1", "messages": [{"role": "user", "content": "q"}]}
        ),
        incumbent=side(Role.INCUMBENT, "incumbent", _text(i), 100.0),
        mirrors=mirrors,
    )


async def write_pairs(url: str, campaign: str, count: int) -> int:
    client = aioredis.Redis.from_url(url)
    mirrors = 0
    try:
        pipe: Any = client.pipeline(transaction=False)
        for i in range(count):
            pair = make_pair(i, campaign)
            mirrors += len(pair.mirrors)
            pipe.xadd(pairs_key(campaign), {"record": pair.model_dump_json()})
        await pipe.execute()
    finally:
        await client.aclose()
    return mirrors


def worker_config(url: str, campaign: str, **worker: Any) -> Config:
    return parse_config(
        {
            "incumbent": {"url": "http://127.0.0.1:1"},
            "recording": {"redis_url": url, "campaign": campaign},
            "prices": {"file": PRICES},
            "budgets": {"latency_ms": 90},
            "worker": {"metrics": {"port": 0}, **worker},
        }
    )


async def read_scores(url: str, campaign: str) -> list[ScoreRecord]:
    entries = await stream_entries(url, scores_key(campaign))
    return [ScoreRecord.model_validate_json(fields[b"record"]) for _, fields in entries]


async def test_once_scores_every_mirror_and_publishes_metrics(
    redis_url: str, campaign: str
) -> None:
    mirrors = await write_pairs(redis_url, campaign, 200)
    registry = CollectorRegistry()
    stats = await run_worker(
        worker_config(redis_url, campaign), once=True, registry=registry, serve_metrics=False
    )
    assert stats.scored == 200
    scores = await read_scores(redis_url, campaign)
    assert len(scores) == mirrors
    assert Counter((s.pair_id, s.mirror) for s in scores).most_common(1)[0][1] == 1
    replicas = [s for s in scores if s.role is Role.REPLICA]
    assert len(replicas) == 40
    assert all(s.divergence == 0.0 for s in replicas)  # same text as the incumbent
    failed = [
        s
        for s in scores
        if s.pair_id in {f"pair-{i:06d}" for i in range(0, 200, 7)} and s.role is Role.CANDIDATE
    ]
    assert all(s.value("outcome.mirror_error") is True for s in failed)
    assert all(s.divergence is None for s in failed)  # an outcome, not a divergence
    value = registry.get_sample_value
    assert value("darklaunch_pairs_scored_total", {"role": "candidate", "candidate": "cand"}) == 200
    assert value("darklaunch_divergence_count", {"role": "replica", "candidate": "replica"}) == 40
    assert value(
        "darklaunch_scored_errors_total",
        {"role": "candidate", "candidate": "cand", "side": "mirror"},
    ) == len(failed)
    assert value("darklaunch_worker_pending_entries") == 0
    # Incumbent latency 100 ms, candidate 80 ms, budget 90 ms: only the replicas (110 ms) breach,
    # and replicas are not candidates, so no candidate breach is counted.
    assert (
        value("darklaunch_budget_breaches_total", {"candidate": "cand", "kind": "latency_ms"}) == 0
    )
    assert (
        value("darklaunch_cost_per_query_usd_count", {"side": "mirror", "candidate": "cand"}) or 0
    ) > 0


REFUND = "Your refund of $30 will arrive within 5 business days. Contact support if it does not."
# Candidate answers to REFUND's question, by whether they say something else.
ANSWERS = {
    "same": (REFUND, False),
    # Few words in common (word divergence about 0.3, over the lexical 0.2), same meaning.
    "reworded": (
        "You will get the $30 refund back in 5 business days; if it has not arrived by then, "
        "reach out to support.",
        False,
    ),
    # Nearly every word in common, one fact changed.
    "fact": (REFUND.replace("$30", "$45"), True),
    "unrelated": ("Paris is the capital of France and sits on the Seine river.", True),
}


def _answer_pair(pair_id: str, campaign: str, mirrors: list[Side]) -> PairRecord:
    return PairRecord(
        pair_id=pair_id,
        campaign=campaign,
        timestamp=time.time(),
        route="/v1/chat/completions",
        method="POST",
        request=RequestInfo(
            body={"model": "big-model-v1", "messages": [{"role": "user", "content": "refund?"}]}
        ),
        incumbent=_answer(Role.INCUMBENT, "incumbent", REFUND),
        mirrors=mirrors,
    )


def _answer(role: Role, name: str, text: str) -> Side:
    return Side(
        role=role,
        name=name,
        model="big-model-v1",
        status=200,
        latency_ms=50.0,
        ttft_ms=10.0,
        output=Output(choices=[Choice(text=text, finish_reason="stop")]),
    )


async def test_judged_answers_count_what_the_gate_counts(redis_url: str, campaign: str) -> None:
    """``darklaunch_answers_judged_total`` is the gate's ``quality: semantic`` reading: a
    reworded answer is not a change and a changed fact is, and a failed side is no verdict at
    all (it is an error, counted elsewhere), for candidates and the replica alike."""
    pairs = [
        _answer_pair(
            key,
            campaign,
            [_answer(Role.CANDIDATE, "cand", text), _answer(Role.REPLICA, "replica", REFUND)],
        )
        for key, (text, _) in ANSWERS.items()
    ]
    failed = Side(role=Role.CANDIDATE, name="cand", error=ErrorInfo(kind="timeout", message="x"))
    pairs.append(_answer_pair("failed", campaign, [failed]))
    client = aioredis.Redis.from_url(redis_url)
    try:
        for pair in pairs:
            await client.xadd(pairs_key(campaign), {"record": pair.model_dump_json()})
    finally:
        await client.aclose()
    registry = CollectorRegistry()
    stats = await run_worker(
        worker_config(redis_url, campaign), once=True, registry=registry, serve_metrics=False
    )
    assert stats.scored == len(pairs)

    def judged(role: str, name: str, changed: str) -> float | None:
        labels = {"role": role, "candidate": name, "changed": changed}
        return registry.get_sample_value("darklaunch_answers_judged_total", labels)

    scored = {"role": "candidate", "candidate": "cand"}
    assert registry.get_sample_value("darklaunch_pairs_scored_total", scored) == len(pairs)
    changed = sum(is_change for _, is_change in ANSWERS.values())
    assert judged("candidate", "cand", "true") == changed
    assert judged("candidate", "cand", "false") == len(ANSWERS) - changed
    assert judged("replica", "replica", "false") == len(ANSWERS)
    assert judged("replica", "replica", "true") == 0  # exists before the first change
    # The same numbers the gate's quality check reads from the stored scores.
    scores = await read_scores(redis_url, campaign)
    for role, name in ((Role.CANDIDATE, "cand"), (Role.REPLICA, "replica")):
        column = ScoreFrame.of([s for s in scores if s.role is role]).changed()
        assert judged(role.value, name, "true") == (column == 1).sum()
        assert judged(role.value, name, "false") == (column == 0).sum()
    # What the word-overlap divergence (and its alert) would have counted as a change.
    [reworded] = [s for s in scores if s.pair_id == "reworded" and s.role is Role.CANDIDATE]
    assert reworded.divergence is not None
    assert reworded.divergence > 0.2


async def test_bad_entry_goes_to_dead_stream_and_does_not_wedge(
    redis_url: str, campaign: str
) -> None:
    client = aioredis.Redis.from_url(redis_url)
    await client.xadd(pairs_key(campaign), {"record": b"{not json"})
    await client.aclose()
    await write_pairs(redis_url, campaign, 3)
    stats = await run_worker(worker_config(redis_url, campaign), once=True, serve_metrics=False)
    assert (stats.bad, stats.scored) == (1, 3)
    dead = await stream_entries(redis_url, dead_key(campaign))
    assert dead[0][1][b"record"] == b"{not json"


async def test_killed_worker_is_reclaimed_and_nothing_scored_twice(
    redis_url: str, campaign: str, tmp_path: Path
) -> None:
    count = 3000
    mirrors = await write_pairs(redis_url, campaign, count)
    path = tmp_path / "worker.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "incumbent": {"url": "http://127.0.0.1:1"},
                "recording": {"redis_url": redis_url, "campaign": campaign},
                "prices": {"file": PRICES},
                "worker": {"batch_size": 500, "metrics": {"port": 0}},
            }
        )
    )
    victim = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "proxy", "compare", "--config", str(path), "--consumer", "victim",
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    client = aioredis.Redis.from_url(redis_url)
    try:
        async with asyncio.timeout(30):
            while True:  # wait until the victim holds a batch it has not acknowledged
                try:
                    held: Any = await client.xpending_range(
                        pairs_key(campaign),
                        CONSUMER_GROUP,
                        "-",
                        "+",
                        10,
                        consumername="victim",
                    )
                except aioredis.ResponseError:
                    held = []
                if held:
                    break
                await asyncio.sleep(0.001)
        victim.send_signal(signal.SIGKILL)
        await victim.wait()
        stranded: Any = await client.xpending(pairs_key(campaign), CONSUMER_GROUP)
    finally:
        await client.aclose()
    assert stranded["pending"] > 0  # the kill really happened mid-batch
    await asyncio.sleep(0.3)
    stats = await run_worker(
        worker_config(redis_url, campaign, claim_idle_s=0.2, batch_size=500),
        once=True,
        consumer="rescuer",
        serve_metrics=False,
    )
    assert stats.reclaimed >= stranded["pending"]
    scores = await read_scores(redis_url, campaign)
    per_mirror = Counter((s.pair_id, s.mirror) for s in scores)
    assert len(per_mirror) == mirrors  # every (pair, mirror) scored
    assert max(per_mirror.values()) == 1  # and none twice
