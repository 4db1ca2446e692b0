"""``darklaunch replay`` against simulated upstreams on 127.0.0.1: a golden set sent to the
incumbent and candidates, recorded as pairs, scored and gated; resumed after a stop without
asking any item twice; rate limits waited out."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
import yaml

from comparators.gate.result import Verdict
from comparators.golden.model import (
    Expected,
    ExpectedToolCall,
    GoldenItem,
    ItemProvenance,
    Recorded,
    VersionProvenance,
)
from comparators.golden.store import write_version
from proxy.cli.replaying import load_items, replay_and_gate
from proxy.config.loading import parse_config
from proxy.config.root import Config
from proxy.recording.keys import pairs_key, replayed_key
from proxy.recording.schema import PairRecord
from proxy.replay.retry import RetryPolicy
from proxy.replay.runner import Replayer, ReplayOptions
from proxy.replay.work import ReplayItem
from proxy.sim.answers import items
from proxy.sim.answers.model import JsonDoc, Prose, ToolUse
from proxy.sim.demo import CANDIDATE_PROFILES, INCUMBENT_PROFILE, demo_policy
from proxy.sim.profile import SimProfile
from proxy.sim.prompts import traffic
from proxy.sim.server import SimServer, running_simulator
from tests.conftest import read_records

CHAT = "/v1/chat/completions"
# The demo's policy (the shipped gate.yaml, quality: semantic) sized for a 200-item golden set:
# 200 pairs cannot prove rates within 1 to 5 points, so this offline gate allows 10 points of
# changed meaning and 3 to 5 of errors and refusals, and leaves latency to the shadow campaign
# (simulators on a busy two-core machine time nothing reliably).
POLICY = demo_policy().model_copy(
    update={
        "min_pairs": 150,
        "max_excess_divergence": 0.10,
        "max_error_rate_increase": 0.03,
        "max_refusal_rate_increase": 0.05,
        "max_p95_latency_ratio": None,
        "max_p99_latency_ratio": None,
        "max_median_latency_ratio": None,
        "segments": False,
    }
)
QUICK = {"latency_ms": 20, "latency_jitter_ms": 10, "token_interval_ms": 0}


def golden_set(root: Path, n: int, *, recorded: bool = False) -> str:
    """``n`` distinct bank questions (the demo's traffic) as a new golden-set version."""
    items = []
    for index, request in enumerate(itertools.islice(traffic(seed=7), n)):
        body = {"model": "big-model-v1", **request.arguments(), "user": f"user-{index}"}
        items.append(
            GoldenItem(
                id=f"item-{index:04d}",
                route=CHAT,
                request=body,
                recorded=Recorded(incumbent={"text": "Paris.", "model": "big-model-v1"})
                if recorded
                else None,
                expected=Expected(text="Paris") if recorded else None,
                tags={"kind": request.item.kind},
                provenance=ItemProvenance(source="import", time=0.0),
            )
        )
    manifest = write_version(root, items, VersionProvenance(source="import", file="test"))
    return manifest.version


def config(redis_url: str, incumbent: str, candidates: dict[str, str], **extra: Any) -> Config:
    return parse_config(
        {
            "incumbent": {"url": incumbent},
            "candidates": [
                {"name": name, "url": url, "model": "small-model-v2"}
                for name, url in candidates.items()
            ],
            "recording": {"redis_url": redis_url, "campaign": "unused"},
            **extra,
        }
    )


@pytest.fixture
async def sims() -> AsyncIterator[dict[str, SimServer]]:
    async with (
        running_simulator(INCUMBENT_PROFILE.model_copy(update=QUICK)) as incumbent,
        running_simulator(
            CANDIDATE_PROFILES["paraphrasing"].model_copy(update={**QUICK, "latency_ms": 8})
        ) as good,
        running_simulator(
            # Wrong on about three answers in ten: a regression 200 items can prove.
            CANDIDATE_PROFILES["regressed"].model_copy(
                update={**QUICK, "latency_ms": 40, "content_error_rate": 0.3}
            )
        ) as regressed,
    ):
        yield {"incumbent": incumbent, "good": good, "regressed": regressed}


async def test_a_golden_set_gates_a_good_and_a_regressed_candidate(
    tmp_path: Path, redis_url: str, campaign: str, sims: dict[str, SimServer]
) -> None:
    version = golden_set(tmp_path / "golden", 200)
    cfg = config(
        redis_url,
        sims["incumbent"].url,
        {"good": sims["good"].url, "regressed": sims["regressed"].url},
    )
    found, items, unsendable = load_items(tmp_path / "golden", None)
    assert (found, len(items), unsendable) == (version, 200, 0)
    options = ReplayOptions(campaign=campaign, version=version, concurrency=16, noise_floor=True)
    outcome = await replay_and_gate(cfg, items, options, POLICY)
    summary = outcome.summary
    assert (summary.replayed, summary.pairs, summary.interrupted) == (200, 200, False)
    # The incumbent asked twice per item (its replica), the candidates once (retries aside).
    assert sims["incumbent"].stats.by_path == {CHAT: 400}
    assert sims["good"].stats.by_path == {CHAT: 200}
    assert sims["regressed"].stats.by_path[CHAT] == 200 + summary.retries["regressed"]
    records = await read_records(redis_url, campaign)
    assert len(records) == 200
    first = records[0]
    assert first.source == "replay"
    assert first.golden is not None
    assert first.golden.version == version
    assert [m.role.value for m in first.mirrors] == ["candidate", "candidate", "replica"]
    gate = outcome.gate
    assert gate is not None
    held_back = [
        (c.name, c.value, c.upper)
        for c in gate.checks
        if c.candidate == "good" and c.status is not Verdict.PASS
    ]
    assert gate.candidates == {"good": Verdict.PASS, "regressed": Verdict.FAIL}, held_back


async def test_a_stopped_replay_resumes_without_asking_any_item_twice(
    tmp_path: Path, redis_url: str, campaign: str, sims: dict[str, SimServer]
) -> None:
    golden_set(tmp_path / "golden", 60)
    path = tmp_path / "darklaunch.yaml"
    data = {
        "incumbent": {"url": sims["incumbent"].url},
        "candidates": [{"name": "good", "url": sims["good"].url}],
        "recording": {"redis_url": redis_url},
    }
    path.write_text(yaml.safe_dump(data))
    command = [
        sys.executable, "-m", "proxy", "replay", "--config", str(path),
        "--golden", str(tmp_path / "golden"), "--campaign", campaign, "--no-gate",
        "--concurrency", "4", "--rate", "40",
    ]  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    client = aioredis.Redis.from_url(redis_url)
    try:
        async with asyncio.timeout(30):
            while await client.scard(replayed_key(campaign)) < 10:  # noqa: ASYNC110 - another process
                await asyncio.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        stdout, stderr = await process.communicate()
        assert process.returncode == 130, stderr.decode()
        assert "run the same command again to continue" in stdout.decode()
        first_run = sims["incumbent"].stats.requests
        done = await client.scard(replayed_key(campaign))
        assert 10 <= done < 60
        # Everything asked was recorded: the items in flight finished before it stopped.
        assert first_run == done == sims["good"].stats.requests
        again = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        stdout, stderr = await again.communicate()
        assert again.returncode == 0, stderr.decode()
        assert f"60 items, {done} already replayed, {60 - done} replayed now" in stdout.decode()
        assert sims["incumbent"].stats.requests == 60
        assert sims["good"].stats.requests == 60
        assert await client.xlen(pairs_key(campaign)) == 60
    finally:
        if process.returncode is None:
            process.kill()
        await client.aclose()


async def test_rate_limits_are_waited_out_as_retry_after_says(
    redis_url: str, campaign: str
) -> None:
    limited = SimProfile(name="limited", seed=5, error_rate=0.3, error_status=429)
    async with running_simulator(limited) as incumbent, running_simulator(SimProfile()) as cand:
        cfg = config(redis_url, incumbent.url, {"c": cand.url})
        items = [
            ReplayItem(
                f"i{i}", CHAT, {"model": "m", "messages": [{"role": "user", "content": f"q{i}"}]}
            )
            for i in range(12)
        ]
        options = ReplayOptions(
            campaign=campaign, version="v1", concurrency=12, retry=RetryPolicy(retries=8), seed=1
        )
        client = aioredis.Redis.from_url(redis_url)
        try:
            started = asyncio.get_running_loop().time()
            summary = await Replayer(cfg, options, client).run(items)
            elapsed = asyncio.get_running_loop().time() - started
        finally:
            await client.aclose()
    retried = summary.retries["incumbent"]
    assert retried > 0
    assert summary.calls["incumbent"] == 12 + retried
    assert summary.waited_s == pytest.approx(retried * 1.0)  # the simulator says Retry-After: 1
    assert elapsed >= 1.0
    records = await read_records(redis_url, campaign)
    assert [r.incumbent.status for r in records] == [200] * 12


async def test_the_recorded_incumbent_is_not_asked_again(
    tmp_path: Path, redis_url: str, campaign: str, sims: dict[str, SimServer]
) -> None:
    version = golden_set(tmp_path / "golden", 5, recorded=True)
    cfg = config(redis_url, sims["incumbent"].url, {"good": sims["good"].url})
    _, items, _ = load_items(tmp_path / "golden", version)
    options = ReplayOptions(campaign=campaign, version=version, recorded_incumbent=True)
    client = aioredis.Redis.from_url(redis_url)
    try:
        summary = await Replayer(cfg, options, client).run(items)
    finally:
        await client.aclose()
    assert summary.pairs == 5
    assert sims["incumbent"].stats.requests == 0
    records: list[PairRecord] = await read_records(redis_url, campaign)
    assert {r.incumbent.version for r in records} == {"recorded"}
    assert {r.incumbent.output.text for r in records if r.incumbent.output} == {"Paris."}
    # The reference answer travels with the pair, for the reference comparator and the judge.
    assert {r.expected.text for r in records if r.expected} == {"Paris"}
    assert all(r.expected is not None for r in records)


async def test_a_candidate_that_cannot_be_asked_an_item_skips_it_by_reason(
    redis_url: str, campaign: str, sims: dict[str, SimServer]
) -> None:
    cfg = parse_config(
        {
            "incumbent": {"url": sims["incumbent"].url},
            "candidates": [{"name": "claude", "url": sims["good"].url, "api": "anthropic"}],
            "recording": {"redis_url": redis_url},
        }
    )
    ask = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    items = [ReplayItem("plain", CHAT, ask), ReplayItem("two", CHAT, {**ask, "n": 2})]
    client = aioredis.Redis.from_url(redis_url)
    try:
        summary = await Replayer(cfg, ReplayOptions(campaign, "v1"), client).run(items)
    finally:
        await client.aclose()
    assert summary.skipped == {"claude: n_greater_than_1": 1}
    assert sims["good"].stats.by_path == {"/v1/messages": 1}
    records = await read_records(redis_url, campaign)
    mirrors = {r.golden.item: [m.name for m in r.mirrors] for r in records if r.golden}
    assert mirrors == {"plain": ["claude"], "two": []}
    assert orjson.loads(sims["good"].stats.bodies[0])["max_tokens"] > 0
    assert os.environ.get("NEVER_SET_IN_TESTS") is None


def answered_golden_set(root: Path, n: int) -> str:
    """``n`` bank questions with known answers (short facts, tool calls, JSON extraction), each
    with its right answer as the golden item's ``expected``."""
    kinds = ("short_fact", "tool_call", "json")
    pool = [item for kind in kinds for item in items(kind)]
    golden = []
    for index in range(n):
        item = pool[(index * 7) % len(pool)]
        answer = item.answer
        if isinstance(answer, ToolUse):
            expected = Expected(
                tool_calls=[
                    ExpectedToolCall(
                        name=answer.name, arguments=orjson.dumps(answer.arguments).decode()
                    )
                ]
            )
        elif isinstance(answer, JsonDoc):
            expected = Expected.model_validate({"json": answer.document})
        else:
            assert isinstance(answer, Prose)  # short facts are prose with a fact in a slot
            slots = [p for s in answer.sentences for p in s.parts if not isinstance(p, str)]
            expected = Expected(text=slots[-1].value)
        body: dict[str, Any] = {
            "model": "big-model-v1",
            "messages": [{"role": "user", "content": item.question}],
            "user": f"user-{index}",
        }
        if item.tools:
            body["tools"] = list(item.tools)
        if item.response_format:
            body["response_format"] = item.response_format
        golden.append(
            GoldenItem(
                id=f"item-{index:04d}",
                route=CHAT,
                request=body,
                expected=expected,
                tags={"kind": item.kind},
                provenance=ItemProvenance(source="import", time=0.0),
            )
        )
    return write_version(root, golden, VersionProvenance(source="import", file="t")).version


async def test_reference_answers_pass_a_more_accurate_candidate_and_fail_a_less_accurate_one(
    tmp_path: Path, redis_url: str, campaign: str
) -> None:
    policy = POLICY.model_copy(
        update={"max_excess_divergence": None, "max_reference_regression": 0.02}
    )
    base = INCUMBENT_PROFILE.model_copy(update=QUICK)
    async with (
        running_simulator(base.model_copy(update={"content_error_rate": 0.15})) as incumbent,
        running_simulator(base.model_copy(update={"name": "better", "seed": 3})) as better,
        running_simulator(
            base.model_copy(update={"name": "worse", "content_error_rate": 0.4})
        ) as worse,
    ):
        version = answered_golden_set(tmp_path / "golden", 200)
        cfg = config(redis_url, incumbent.url, {"better": better.url, "worse": worse.url})
        _, golden, _ = load_items(tmp_path / "golden", version)
        options = ReplayOptions(campaign=campaign, version=version, concurrency=16)
        outcome = await replay_and_gate(cfg, golden, options, policy)
    gate = outcome.gate
    assert gate is not None
    regression = {
        c.candidate: c for c in gate.checks if c.name == "reference_regression" and not c.segment
    }
    assert regression["better"].n == regression["worse"].n == 200
    assert regression["better"].value is not None
    assert regression["better"].value < -0.05
    assert regression["worse"].value is not None
    assert regression["worse"].value > 0.15
    assert gate.candidates == {"better": Verdict.PASS, "worse": Verdict.FAIL}
