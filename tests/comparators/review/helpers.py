"""What the review app's tests share: a campaign written to a real Redis with XADD (pairs,
scores, judgements, feedback, as the proxy and the workers write them), the app served on
127.0.0.1, and a logged-in HTTP client."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web

from comparators.judge.record import Judgement
from comparators.review.app import make_app
from comparators.review.tokens import add_reviewer
from comparators.scores import ScoreRecord
from proxy.recording.keys import feedback_key, judgements_key, pairs_key, scores_key
from proxy.recording.schema import Choice, Feedback, Output, PairRecord, RequestInfo, Role, Side
from tests.comparators.score_factories import score

MIRROR = "cand"
CHAT = "/v1/chat/completions"


def make_pair(
    pair_id: str,
    campaign: str,
    *,
    question: str = "What is the capital of France?",
    incumbent: str = "Paris.",
    candidate: str = "Lyon.",
    route: str = CHAT,
    tools: list[dict[str, Any]] | None = None,
) -> PairRecord:
    def side(role: Role, name: str, text: str, latency: float) -> Side:
        return Side(
            role=role,
            name=name,
            model="big-model-v1" if role is Role.INCUMBENT else "small-model-v2",
            status=200,
            latency_ms=latency,
            output=Output(choices=[Choice(text=text, finish_reason="stop")]),
        )

    body: dict[str, Any] = {
        "model": "big-model-v1",
        "messages": [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": question},
        ],
    }
    if tools is not None:
        body["tools"] = tools
    return PairRecord(
        pair_id=pair_id,
        campaign=campaign,
        timestamp=1_700_000_000.0,
        route=route,
        method="POST",
        request=RequestInfo(body=body, model="big-model-v1"),
        incumbent=side(Role.INCUMBENT, "incumbent", incumbent, 100.0),
        mirrors=[side(Role.CANDIDATE, MIRROR, candidate, 80.0)],
    )


async def xadd(client: aioredis.Redis, key: str, payload: str) -> None:
    await client.xadd(key, {"record": payload})


async def write_pair(
    client: aioredis.Redis, pair: PairRecord, *, similarity: float = 0.5, **score_args: Any
) -> ScoreRecord:
    """The pair and the worker's score for it (``score_args`` as in ``score()``)."""
    await xadd(client, pairs_key(pair.campaign), pair.model_dump_json())
    record = score(
        pair.pair_id,
        mirror=MIRROR,
        campaign=pair.campaign,
        route=pair.route,
        similarity=similarity,
        **score_args,
    )
    await xadd(client, scores_key(pair.campaign), record.model_dump_json())
    return record


async def write_judgement(
    client: aioredis.Redis, campaign: str, pair_id: str, verdict: str, reason: str = ""
) -> None:
    judgement = Judgement(
        pair_id=pair_id,
        campaign=campaign,
        timestamp=1_700_000_000.0,
        route=CHAT,
        mirror=MIRROR,
        role=Role.CANDIDATE,
        status="judged",
        verdict=verdict,  # type: ignore[arg-type]
        reason=reason,
        judge_model="judge-1",
        prompt_version="v1",
    )
    await xadd(client, judgements_key(campaign), judgement.model_dump_json())


async def write_feedback(client: aioredis.Redis, campaign: str, pair_id: str | None) -> None:
    feedback = Feedback(
        campaign=campaign,
        request_id=f"req-{pair_id}",
        rating="bad",
        comment="wrong city",
        time=1_700_000_000.0,
        pair_id=pair_id,
    )
    await xadd(client, feedback_key(campaign), feedback.model_dump_json())


@asynccontextmanager
async def served(redis_url: str, campaign: str) -> AsyncIterator[tuple[str, aioredis.Redis]]:
    """The review app on 127.0.0.1 (port 0): its URL, and a Redis client for the test."""
    client = aioredis.Redis.from_url(redis_url)
    runner = web.AppRunner(make_app(client, campaign, cache_ttl_s=0.0), shutdown_timeout=0.5)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}", client
    finally:
        await runner.cleanup()
        await client.aclose()


async def reviewer(client: aioredis.Redis, campaign: str) -> tuple[str, str]:
    """A reviewer of this test's own (the tokens hash is shared by every campaign)."""
    name = f"ann-{campaign}"
    return name, await add_reviewer(client, name)


@asynccontextmanager
async def logged_in(base: str, token: str) -> AsyncIterator[aiohttp.ClientSession]:
    jar = aiohttp.CookieJar(unsafe=True)  # cookies for a bare IP address (127.0.0.1)
    async with aiohttp.ClientSession(base, cookie_jar=jar) as http:
        async with http.post("/login", data={"token": token}, allow_redirects=False) as answer:
            assert answer.status == 303, await answer.text()
        yield http


async def csrf_of(http: aiohttp.ClientSession, path: str) -> str:
    async with http.get(path) as answer:
        assert answer.status == 200
        found = re.search(r'name="csrf" value="([^"]+)"', await answer.text())
    assert found is not None
    return found.group(1)
