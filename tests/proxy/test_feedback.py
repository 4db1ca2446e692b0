"""End users' feedback through the proxy (``POST /darklaunch/feedback``): real proxy, the
simulator as incumbent and candidate, a real Redis, and the official SDK for the traffic."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import openai
import orjson
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from proxy.config.base import ConfigError
from proxy.feedback.limiter import ClientLimiter, client_key
from proxy.feedback.memory import RememberedRequest, RequestMemory
from proxy.recording.keys import feedback_key
from proxy.recording.schema import Feedback, PairRecord
from proxy.recording.sink import MemoryRecorder
from proxy.server import RunningProxy
from proxy.sim.profile import SimProfile
from proxy.sim.server import SimServer, running_simulator
from tests.conftest import ProxyFactory, make_config, read_records, stream_entries

PATH = "/darklaunch/feedback"
EMAIL = "jane.doe@example.com"


@dataclass
class Setup:
    inc: SimServer
    cand: SimServer
    proxy: RunningProxy
    session: aiohttp.ClientSession
    sdk: openai.AsyncOpenAI


@asynccontextmanager
async def setup(
    proxy_factory: ProxyFactory, redis_url: str | None, campaign: str, **sections: Any
) -> AsyncIterator[Setup]:
    recording = {
        "campaign": campaign,
        **({"redis_url": redis_url} if redis_url else {}),
        **sections.pop("recording", {}),
    }
    async with (
        running_simulator(SimProfile(name="inc")) as inc,
        running_simulator(SimProfile(name="cand")) as cand,
        proxy_factory(
            inc.url, [{"name": "c", "url": cand.url}], recording=recording, **sections
        ) as proxy,
        aiohttp.ClientSession() as session,
    ):
        sdk = openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key="sk-test", max_retries=0)
        try:
            yield Setup(inc, cand, proxy, session, sdk)
        finally:
            await sdk.close()


async def post_feedback(
    s: Setup, body: Any, *, headers: dict[str, str] | None = None
) -> tuple[int, Any, CIMultiDictProxy[str]]:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    async with s.session.post(s.proxy.url + PATH, data=data, headers=headers) as response:
        return response.status, orjson.loads(await response.read()), response.headers


async def feedback_records(redis_url: str, campaign: str) -> list[Feedback]:
    entries = await stream_entries(redis_url, feedback_key(campaign))
    return [Feedback.model_validate_json(fields[b"record"]) for _, fields in entries]


def sample(s: Setup, name: str, labels: dict[str, str] | None = None) -> float:
    return s.proxy.state.registry.get_sample_value(name, labels or {}) or 0.0


async def ask(s: Setup, prompt: str, client_id: str) -> str:
    """One chat request through the proxy; the incumbent's request id as the SDK exposes it."""
    raw = await s.sdk.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": prompt}],
        extra_headers={"x-request-id": client_id},
    )
    completion = raw.parse()
    assert completion._request_id is not None
    assert completion._request_id == raw.headers["x-request-id"]
    return completion._request_id


async def wait_for_pairs(redis_url: str, campaign: str, count: int) -> list[PairRecord]:
    async with asyncio.timeout(10):
        while len(records := await read_records(redis_url, campaign)) < count:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    return records


async def test_feedback_on_a_sampled_request_names_its_pair(
    proxy_factory: ProxyFactory, redis_url: str, campaign: str
) -> None:
    async with setup(proxy_factory, redis_url, campaign) as s:
        incumbent_id = await ask(s, "What is the capital of France?", "client-req-1")
        assert incumbent_id != "client-req-1"
        (pair,) = await wait_for_pairs(redis_url, campaign, 1)
        by_client = await post_feedback(
            s,
            {"request_id": "client-req-1", "rating": "bad", "comment": f"mail me at {EMAIL}"},
        )
        by_incumbent = await post_feedback(s, {"request_id": incumbent_id, "rating": "good"})
        assert by_client[:2] == (202, {"status": "recorded", "pair_id": pair.pair_id})
        assert by_incumbent[:2] == (202, {"status": "recorded", "pair_id": pair.pair_id})
        first, second = await feedback_records(redis_url, campaign)
        assert (first.request_id, first.rating, first.pair_id) == (
            "client-req-1",
            "bad",
            pair.pair_id,
        )
        assert first.comment == "mail me at [REDACTED:email]"
        assert (first.route, first.request) == (None, None)
        assert (second.request_id, second.rating, second.comment) == (incumbent_id, "good", None)
        assert second.campaign == campaign
        assert second.time >= first.time
        assert sample(s, "darklaunch_feedback_matched_total", {"match": "pair"}) == 2
        assert sample(s, "darklaunch_feedback_total", {"rating": "bad"}) == 1
        assert sample(s, "darklaunch_feedback_total", {"rating": "good"}) == 1
        # The feedback path is darklaunch's own: neither upstream ever saw it.
        assert PATH not in s.inc.stats.by_path
        assert PATH not in s.cand.stats.by_path
        assert s.inc.stats.by_path.get("/v1/chat/completions") == 1


async def test_feedback_on_an_unsampled_request_keeps_it_redacted(
    proxy_factory: ProxyFactory, redis_url: str, campaign: str
) -> None:
    async with setup(proxy_factory, redis_url, campaign, mirror={"sample_rate": 0.0}) as s:
        incumbent_id = await ask(s, f"Write to {EMAIL} about the invoice", "client-req-2")
        status, body, _ = await post_feedback(s, {"request_id": incumbent_id, "rating": "bad"})
        assert (status, body) == (202, {"status": "recorded", "pair_id": None})
        (record,) = await feedback_records(redis_url, campaign)
        assert record.pair_id is None
        assert record.route == "/v1/chat/completions"
        request = record.request
        assert request["model"] == "gpt-4o-mini"
        assert request["body_truncated"] is False
        content = request["body"]["messages"][0]["content"]
        assert content == "Write to [REDACTED:email] about the invoice"
        assert EMAIL not in orjson.dumps(record.model_dump()).decode()
        assert sample(s, "darklaunch_feedback_matched_total", {"match": "request"}) == 1
        assert s.cand.stats.requests == 0
        assert await read_records(redis_url, campaign) == []


async def test_feedback_on_an_unknown_id_is_still_recorded(
    proxy_factory: ProxyFactory, redis_url: str, campaign: str
) -> None:
    async with setup(proxy_factory, redis_url, campaign, feedback={"remember": 0}) as s:
        await ask(s, "Hello", "client-req-3")  # sampled, but nothing is remembered
        for request_id in ("client-req-3", "req_never_seen"):
            status, body, _ = await post_feedback(s, {"request_id": request_id, "rating": "bad"})
            assert (status, body) == (202, {"status": "recorded", "pair_id": None})
        records = await feedback_records(redis_url, campaign)
        assert [r.request_id for r in records] == ["client-req-3", "req_never_seen"]
        assert all(r.pair_id is None and r.route is None and r.request is None for r in records)
        assert sample(s, "darklaunch_feedback_matched_total", {"match": "unknown"}) == 2
        assert sample(s, "darklaunch_feedback_matched_total", {"match": "pair"}) == 0


async def test_a_flood_from_one_client_is_limited_and_others_get_through(
    proxy_factory: ProxyFactory, redis_url: str, campaign: str
) -> None:
    async with setup(proxy_factory, redis_url, campaign, feedback={"max_per_minute": 5}) as s:
        flooder = {"Authorization": "Bearer sk-flooder-0000000000000000"}
        statuses = []
        for n in range(8):
            status, body, headers = await post_feedback(
                s, {"request_id": f"req_{n}", "rating": "bad"}, headers=flooder
            )
            statuses.append(status)
            if status == 429:
                assert int(headers["Retry-After"]) >= 1
                assert body["error"]["code"] == "rate_limit_exceeded"
                assert "feedback.max_per_minute" in body["error"]["message"]
        assert statuses == [202] * 5 + [429] * 3
        other = {"Authorization": "Bearer sk-other-11111111111111111111"}
        status, _, _ = await post_feedback(
            s, {"request_id": "req_x", "rating": "good"}, headers=other
        )
        assert status == 202
        records = await feedback_records(redis_url, campaign)
        assert len(records) == 6
        assert sample(s, "darklaunch_feedback_limited_total") == 3
        assert sample(s, "darklaunch_feedback_total", {"rating": "bad"}) == 5


BAD_BODIES = [
    (b"not json", "invalid_json", None, "invalid JSON"),
    (b"[1, 2]", "invalid_json", None, "got [1,2]; expected a JSON object"),
    ({"rating": "bad"}, "missing_field", "request_id", "request_id: missing"),
    ({"request_id": 7, "rating": "bad"}, "invalid_field", "request_id", "request_id: got 7"),
    ({"request_id": "", "rating": "bad"}, "invalid_field", "request_id", 'request_id: got ""'),
    ({"request_id": "r" * 300, "rating": "bad"}, "invalid_field", "request_id", "at most 256"),
    ({"request_id": "r"}, "invalid_field", "rating", 'rating: got nothing; expected "bad" or'),
    ({"request_id": "r", "rating": "meh"}, "invalid_field", "rating", 'rating: got "meh"'),
    ({"request_id": "r", "rating": "bad", "comment": 3}, "invalid_field", "comment", "got 3"),
    ({"request_id": "r", "rating": "bad", "coment": "x"}, "unknown_field", "coment", "coment"),
]


async def test_bad_requests_get_openai_errors_and_are_never_forwarded(
    proxy_factory: ProxyFactory, redis_url: str, campaign: str
) -> None:
    async with setup(proxy_factory, redis_url, campaign) as s:
        for body, code, param, words in BAD_BODIES:
            status, answer, headers = await post_feedback(s, body)
            assert status == 400, body
            assert answer == {
                "error": {
                    "message": answer["error"]["message"],
                    "type": "invalid_request_error",
                    "param": param,
                    "code": code,
                }
            }, body
            assert words in answer["error"]["message"], (body, answer)
            assert headers["x-darklaunch-error"] == code
        status, answer, _ = await post_feedback(
            s, {"request_id": "r", "rating": "bad", "comment": "x" * 20_000}
        )
        assert status == 413
        assert "expected at most 16384" in answer["error"]["message"]
        async with s.session.get(s.proxy.url + PATH) as response:
            assert response.status == 405
            assert response.headers["Allow"] == "POST"
            assert (await response.json())["error"]["code"] == "method_not_allowed"
        assert PATH not in s.inc.stats.by_path
        assert await feedback_records(redis_url, campaign) == []
        assert sample(s, "darklaunch_feedback_total", {"rating": "bad"}) == 0


async def test_a_long_comment_is_cut_after_redaction(
    proxy_factory: ProxyFactory, redis_url: str, campaign: str
) -> None:
    async with setup(proxy_factory, redis_url, campaign, feedback={"max_comment_chars": 40}) as s:
        comment = "x" * 30 + f" {EMAIL} and more text after it"
        status, _, _ = await post_feedback(
            s, {"request_id": "r", "rating": "bad", "comment": comment}
        )
        assert status == 202
        (record,) = await feedback_records(redis_url, campaign)
        assert record.comment == ("x" * 30 + " [REDACTED:email]")[:40]


async def test_disabled_feedback_path_is_forwarded_like_any_other(
    proxy_factory: ProxyFactory, redis_url: str, campaign: str
) -> None:
    async with setup(proxy_factory, redis_url, campaign, feedback={"enabled": False}) as s:
        assert s.proxy.state.feedback is None
        assert s.proxy.state.forwarder.memory is None
        status, _, headers = await post_feedback(s, {"request_id": "r", "rating": "bad"})
        assert "x-darklaunch-error" not in headers
        assert status != 202
        assert s.inc.stats.by_path.get(PATH) == 1
        assert await feedback_records(redis_url, campaign) == []


async def test_without_redis_feedback_is_refused_and_counted(
    proxy_factory: ProxyFactory, unused_tcp_port: int, campaign: str
) -> None:
    # No Redis at all (an in-memory recorder): feedback cannot be kept, and says so.
    down = f"redis://127.0.0.1:{unused_tcp_port}/0"
    async with setup(proxy_factory, None, campaign) as s:
        status, answer, _ = await post_feedback(s, {"request_id": "r", "rating": "bad"})
        assert status == 503
        assert answer["error"]["code"] == "feedback_unavailable"
        assert "no_redis" in answer["error"]["message"]
        assert sample(s, "darklaunch_feedback_dropped_total", {"reason": "no_redis"}) == 1
    # Pairs stay in memory; feedback goes to the configured Redis, which is away.
    async with setup(
        proxy_factory, None, campaign, recorder=MemoryRecorder(), recording={"redis_url": down}
    ) as s:
        status, answer, headers = await post_feedback(s, {"request_id": "r", "rating": "bad"})
        assert status == 503
        assert headers["Retry-After"] == "5"
        assert answer["error"]["type"] == "server_error"
        reason = {"reason": "redis_unreachable"}
        assert sample(s, "darklaunch_feedback_dropped_total", reason) == 1
        assert sample(s, "darklaunch_feedback_total", {"rating": "bad"}) == 0


def test_the_feedback_path_may_not_be_a_mirrored_route() -> None:
    with pytest.raises(ConfigError, match=r"feedback: .*a mirrored route"):
        make_config("http://127.0.0.1:1", feedback={"path": "/v1/chat/completions"})
    with pytest.raises(ConfigError, match=r"feedback\.max_per_minute: got 0"):
        make_config("http://127.0.0.1:1", feedback={"max_per_minute": 0})


def test_memory_forgets_the_oldest_ids_and_bounds_body_bytes() -> None:
    memory = RequestMemory(max_ids=3, max_body_bytes=100)
    memory.remember("a", "A", "pair-1")
    memory.remember("b", None, RememberedRequest("/v1/chat/completions", b"x" * 60))
    assert len(memory) == 3
    assert memory.lookup("A") == "pair-1"
    memory.remember("c", None, "pair-2")  # a fourth id: "a", the oldest, goes
    assert memory.lookup("a") is None
    assert memory.lookup("A") == "pair-1"
    memory.remember(None, "d", RememberedRequest("/v1/chat/completions", b"y" * 60))
    # 120 bytes of bodies is over the bound: the oldest body ("b") goes with what came before it.
    assert memory.lookup("b") is None
    assert memory.body_bytes == 60
    memory.remember("huge", None, RememberedRequest("/v1/embeddings", b"z" * 1000))
    assert memory.lookup("huge") == RememberedRequest("/v1/embeddings", None)
    assert memory.lookup("d") is not None  # a body too big to keep evicts nobody
    memory.remember("x" * 300, None, "pair-3")
    assert memory.lookup("x" * 300) is None


def test_limiter_refills_over_time_and_keys_by_authorization() -> None:
    now = [0.0]
    limiter = ClientLimiter(2, clock=lambda: now[0])
    assert [limiter.take("a"), limiter.take("a"), limiter.take("b")] == [None, None, None]
    assert limiter.take("a") == 30  # one token a 30 s at 2 a minute
    now[0] = 30.0
    assert limiter.take("a") is None
    assert limiter.take("a") == 30
    plain: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())
    key_one = CIMultiDictProxy(CIMultiDict({"Authorization": "Bearer one"}))
    key_two = CIMultiDictProxy(CIMultiDict({"Authorization": "Bearer two"}))
    assert client_key("10.0.0.1", plain) == "10.0.0.1"
    keyed = client_key("10.0.0.1", key_one)
    assert keyed.startswith("10.0.0.1|")
    assert "one" not in keyed
    assert keyed != client_key("10.0.0.1", key_two)
