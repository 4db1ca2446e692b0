"""What each side gets of the client's headers, seen by real upstreams on 127.0.0.1: the
incumbent everything as sent, a candidate only an allowlist and its configured headers, the
replica no more than the incumbent got."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from proxy.config.upstreams import CandidateConfig
from proxy.mirroring.request import DECODABLE_CODINGS, candidate_headers, replica_headers
from proxy.recording.exchange import decode_body
from tests.conftest import ProxyFactory, serve_handler

CHAT = {"model": "gpt-x", "messages": [{"role": "user", "content": "Explain caching in two lines"}]}
ANSWER = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-x",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Keep it."},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
}
# Every credential value carries this marker, so a leak shows up whatever header carries it.
LEAK = "LEAK"
CREDENTIALS = [
    ("Authorization", f"Bearer sk-{LEAK}-client"),
    ("Proxy-Authorization", f"Basic {LEAK}-proxy"),
    ("Cookie", f"session={LEAK}-1"),
    ("Cookie", f"csrftoken={LEAK}-2"),
    ("X-Api-Key", f"sk-ant-{LEAK}"),
    ("Api-Key", f"azure-{LEAK}"),
    ("X-Goog-Api-Key", f"AIza{LEAK}"),
    ("X-Goog-User-Project", f"project-{LEAK}"),
    ("X-Amz-Security-Token", f"FwoG{LEAK}"),
    ("X-Amz-Date", f"20250101T000000Z-{LEAK}"),
    ("X-Auth-Token", f"token-{LEAK}"),
    ("X-Access-Token", f"access-{LEAK}"),
    ("X-Csrf-Token", f"csrf-{LEAK}"),
    ("OpenAI-Organization", f"org-{LEAK}"),
    ("OpenAI-Project", f"proj_{LEAK}"),
    ("Ocp-Apim-Subscription-Key", f"apim-{LEAK}"),
    ("X-Functions-Key", f"func-{LEAK}"),
    ("Private-Token", f"glpat-{LEAK}"),
    ("X-Portkey-Api-Key", f"pk-{LEAK}"),
    ("Helicone-Auth", f"Bearer {LEAK}"),
    ("Idempotency-Key", f"idem-{LEAK}"),
    ("X-Darklaunch-Tags", f"tenant={LEAK}"),
    ("Traceparent", f"00-{LEAK}-01"),
    ("X-Request-Id", f"req-{LEAK}"),
    ("X-Team", f"team-{LEAK}"),
]
ALLOWED = [
    ("Content-Type", "application/json"),
    ("Accept", "application/json"),
    ("Accept-Encoding", "br, gzip;q=0.8, zstd, deflate"),
    ("User-Agent", "OpenAI/Python 1.55.0"),
    ("OpenAI-Beta", "assistants=v2"),
    ("Anthropic-Version", "2023-06-01"),
    ("Anthropic-Beta", "prompt-caching-2024-07-31"),
    ("X-Stainless-Lang", "python"),
    ("X-Stainless-Package-Version", "1.55.0"),
    ("X-Stainless-Retry-Count", "0"),
]
SENT = [*ALLOWED, *CREDENTIALS]
# Written by the HTTP client or darklaunch for the hop, not sent by the client's code.
HOP = {"host", "content-length"}
SHADOW_MARKERS = {"x-darklaunch-pair-id", "x-darklaunch-shadow"}

Headers = list[tuple[str, str]]


class Upstream:
    """A real upstream that answers a chat completion and keeps every request's headers as
    they arrived on the wire: names lower-cased, repeats and order kept."""

    def __init__(self) -> None:
        self.received: list[Headers] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.received.append(
            [(name.decode().lower(), value.decode()) for name, value in request.raw_headers]
        )
        return web.json_response(ANSWER)

    def calls(self, *, shadow: bool) -> list[Headers]:
        """The incumbent's own calls (``shadow=False``) or the mirrored ones."""
        return [h for h in self.received if any(n == "x-darklaunch-shadow" for n, _ in h) is shadow]


@asynccontextmanager
async def upstream() -> AsyncIterator[Upstream]:
    server = Upstream()
    async with serve_handler(server.handle) as url:
        server.url = url
        yield server


async def _post_through(
    proxy_factory: ProxyFactory,
    inc: Upstream,
    candidates: list[dict[str, Any]],
    **sections: Any,
) -> None:
    async with (
        proxy_factory(inc.url, candidates, **sections) as proxy,
        aiohttp.ClientSession() as session,
    ):
        async with session.post(
            proxy.url + "/v1/chat/completions",
            data=orjson.dumps(CHAT),
            headers=CIMultiDict(SENT),
        ) as response:
            assert response.status == 200
            assert orjson.loads(await response.read()) == ANSWER
        await proxy.state.mirror.tasks.drain(5)


def _names(headers: Headers) -> set[str]:
    return {name for name, _ in headers} - HOP


def _leaks(headers: Headers) -> Headers:
    return [(name, value) for name, value in headers if LEAK in value]


async def test_no_client_credential_reaches_a_candidate(proxy_factory: ProxyFactory) -> None:
    async with upstream() as inc, upstream() as plain, upstream() as trusted:
        await _post_through(
            proxy_factory,
            inc,
            [
                {
                    "name": "plain",
                    "url": plain.url,
                    "headers": {"Authorization": "Bearer sk-candidate", "X-Route": "blue"},
                },
                {"name": "trusted", "url": trusted.url, "forward_authorization": True},
            ],
        )
    [got] = plain.received
    assert _leaks(got) == []
    allowed = {name.lower() for name, _ in ALLOWED}
    assert _names(got) == allowed | {"authorization", "x-route"} | SHADOW_MARKERS
    values = dict(got)
    assert [v for n, v in got if n == "authorization"] == ["Bearer sk-candidate"]
    assert values["x-route"] == "blue"
    # The codings darklaunch cannot read back for the record are taken out, preferences kept.
    assert values["accept-encoding"] == "gzip;q=0.8, deflate"
    for name, value in ALLOWED:
        if name != "Accept-Encoding":
            assert values[name.lower()] == value
    # forward_authorization adds the client's Authorization, and nothing else of its secrets.
    [got] = trusted.received
    assert _leaks(got) == [("authorization", f"Bearer sk-{LEAK}-client")]
    assert _names(got) == allowed | {"authorization"} | SHADOW_MARKERS


async def test_the_incumbent_gets_every_client_header_as_sent(proxy_factory: ProxyFactory) -> None:
    """Drop-in: the allowlist is the candidates' alone. Only ``Proxy-Authorization``, which
    is for the proxy hop itself (hop-by-hop), stops at darklaunch, as any proxy's would."""
    async with upstream() as inc, upstream() as cand:
        await _post_through(proxy_factory, inc, [{"name": "c", "url": cand.url}])
    [got] = inc.calls(shadow=False)
    sent = [(name.lower(), value) for name, value in SENT if name != "Proxy-Authorization"]
    sent_names = {name for name, _ in sent}
    assert [(name, value) for name, value in got if name in sent_names] == sent
    assert "proxy-authorization" not in _names(got)
    assert len(cand.received) == 1


async def test_the_replica_gets_nothing_the_incumbent_did_not(proxy_factory: ProxyFactory) -> None:
    """The replica is the incumbent asked again: it keeps the client's credentials (they are
    the incumbent's) and the incumbent's configured headers, but gets nothing of the client's
    the incumbent did not, and neither the tags nor the idempotency key."""
    async with upstream() as inc, upstream() as cand:
        await _post_through(
            proxy_factory,
            inc,
            [{"name": "c", "url": cand.url}],
            incumbent={"url": inc.url, "headers": {"X-Incumbent-Key": "inc-own"}},
            mirror={"sample_rate": 1.0, "noise_rate": 1.0},
        )
    [incumbent] = inc.calls(shadow=False)
    [replica] = inc.calls(shadow=True)
    got_by_incumbent = set(incumbent)
    beyond = [
        (name, value)
        for name, value in replica
        if name not in HOP | SHADOW_MARKERS and (name, value) not in got_by_incumbent
    ]
    assert beyond == []
    names = _names(replica)
    assert "x-darklaunch-tags" not in names
    assert "idempotency-key" not in names
    assert ("authorization", f"Bearer sk-{LEAK}-client") in replica
    assert ("x-incumbent-key", "inc-own") in replica
    assert _leaks(cand.received[0]) == []


def _client(*pairs: tuple[str, str]) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict(pairs))


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        (["gzip, deflate, br, zstd"], "gzip, deflate"),
        (["br", "gzip;q=0.5"], "gzip;q=0.5"),
        (["br, zstd"], "identity"),
        (["*"], "identity"),
        (["identity"], "identity"),
    ],
)
def test_accept_encoding_is_narrowed_to_what_darklaunch_can_decode(
    sent: list[str], expected: str
) -> None:
    config = CandidateConfig(name="c", url="http://127.0.0.1:1")
    client = _client(*(("Accept-Encoding", value) for value in sent))
    assert candidate_headers(config, client, "p" * 32).getall("accept-encoding") == [expected]


def test_a_candidate_without_the_client_accept_encoding_gets_none() -> None:
    config = CandidateConfig(name="c", url="http://127.0.0.1:1")
    assert "accept-encoding" not in candidate_headers(config, _client(), "p" * 32)


@pytest.mark.parametrize("coding", sorted(DECODABLE_CODINGS))
def test_every_coding_a_candidate_may_answer_in_is_read_back(coding: str) -> None:
    """The narrowing is only worth it if the record really can undo what is left."""
    text = orjson.dumps(ANSWER)
    encoders: dict[str, Callable[[bytes], bytes]] = {
        "gzip": gzip.compress,
        "deflate": zlib.compress,
        "identity": bytes,
    }
    encoded = encoders[coding](text)
    assert decode_body(encoded, coding, 1 << 20) == text


def test_headers_the_client_made_hop_by_hop_are_not_forwarded() -> None:
    config = CandidateConfig(name="c", url="http://127.0.0.1:1")
    client = _client(("Connection", "keep-alive, User-Agent"), ("User-Agent", "sdk"))
    assert "user-agent" not in candidate_headers(config, client, "p" * 32)


def test_the_replica_builder_keeps_the_incumbent_headers_but_not_the_idempotency_key() -> None:
    config = CandidateConfig(name="replica", url="http://127.0.0.1:1", headers={"X-Own": "1"})
    client = _client(
        ("Authorization", "Bearer sk-client"),
        ("Idempotency-Key", "k1"),
        ("X-Darklaunch-Tags", "a=1"),
        ("X-Team", "t"),
    )
    headers = replica_headers(config, client, "p" * 32)
    assert headers["authorization"] == "Bearer sk-client"
    assert headers["x-team"] == "t"
    assert headers["x-own"] == "1"
    assert "idempotency-key" not in headers
    assert "x-darklaunch-tags" not in headers
