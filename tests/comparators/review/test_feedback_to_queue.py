"""End users' feedback reaches the review app's ``reported`` queue, end to end: a real proxy in
front of the simulator (incumbent and candidate) recording to a real Redis, a chat request with
the client's ``x-request-id``, ``POST /darklaunch/feedback`` on it through the proxy, then the
review app served on 127.0.0.1 and read by a logged-in reviewer."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson

from comparators.review.tokens import remove_reviewer
from proxy.sim.profile import SimProfile
from proxy.sim.server import running_simulator
from tests.comparators.review.helpers import logged_in, reviewer, served
from tests.conftest import ProxyFactory, read_records

CANDIDATE = "cand"


async def _chat(http: aiohttp.ClientSession, url: str, prompt: str, request_id: str) -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]}
    headers = {"x-request-id": request_id, "authorization": "Bearer sk-test"}
    async with http.post(url + "/v1/chat/completions", json=body, headers=headers) as answer:
        assert answer.status == 200, await answer.text()


async def _pair_ids(redis_url: str, campaign: str, count: int) -> dict[str, str]:
    """The recorded pairs' ids by their prompt, once ``count`` are recorded."""
    async with asyncio.timeout(10):
        while len(records := await read_records(redis_url, campaign)) < count:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    found: dict[str, str] = {}
    for record in records:
        assert isinstance(record.request.body, dict)
        found[record.request.body["messages"][0]["content"]] = record.pair_id
    return found


async def test_feedback_through_the_proxy_lands_in_the_reported_queue(
    proxy_factory: ProxyFactory, redis_url: str, campaign: str
) -> None:
    recording = {"redis_url": redis_url, "campaign": campaign}
    async with (
        running_simulator(SimProfile(name="inc")) as inc,
        running_simulator(SimProfile(name="cand")) as cand,
        proxy_factory(
            inc.url,
            [{"name": CANDIDATE, "url": cand.url}],
            recording=recording,
            mirror={"sample_rate": 1.0},
        ) as proxy,
        aiohttp.ClientSession() as http,
    ):
        await _chat(http, proxy.url, "What is the capital of France?", "client-bad-1")
        await _chat(http, proxy.url, "What is the capital of Italy?", "client-quiet-2")
        ids = await _pair_ids(redis_url, campaign, 2)
        reported, quiet = (
            ids["What is the capital of France?"],
            ids["What is the capital of Italy?"],
        )
        feedback = {"request_id": "client-bad-1", "rating": "bad", "comment": "wrong city"}
        async with http.post(proxy.url + "/darklaunch/feedback", json=feedback) as answer:
            assert answer.status == 202
            assert orjson.loads(await answer.read()) == {"status": "recorded", "pair_id": reported}

    async with served(redis_url, campaign) as (base, client):
        name, token = await reviewer(client, campaign)
        try:
            async with logged_in(base, token) as review:
                async with review.get("/api/queue/reported") as answer:
                    assert answer.status == 200
                    queue: dict[str, Any] = await answer.json()
                async with review.get("/q/reported") as answer:
                    assert answer.status == 200
                    page = await answer.text()
        finally:
            await remove_reviewer(client, name)
    assert queue["queue"] == "reported"
    assert [(i["pair_id"], i["mirror"]) for i in queue["items"]] == [(reported, CANDIDATE)]
    assert queue["items"][0]["why"] == "user said bad: wrong city"
    assert f"/pair/{reported}/{CANDIDATE}?q=reported" in page
    assert quiet not in page  # recorded and mirrored, but nobody reported it
