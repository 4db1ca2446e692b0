"""What a candidate is sent: the client's body with the candidate's rewrites, and never the
client's credentials but its Authorization when the config forwards it (the full header
allowlist is in test_headers.py)."""

from __future__ import annotations

import aiohttp
import orjson
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from proxy.config.upstreams import CandidateConfig
from proxy.mirroring.request import candidate_headers
from proxy.sim.profile import SimProfile
from proxy.sim.server import running_simulator
from tests.conftest import ProxyFactory

CHAT = {"model": "gpt-x", "messages": [{"role": "user", "content": "Explain caching in two lines"}]}


async def test_candidate_gets_rewritten_body_and_no_client_credentials(
    proxy_factory: ProxyFactory,
) -> None:
    async with (
        running_simulator(SimProfile(name="inc")) as inc,
        running_simulator(SimProfile(name="cand")) as cand,
    ):
        async with (
            proxy_factory(
                inc.url,
                [
                    {
                        "name": "c",
                        "url": cand.url,
                        "model": "cand-model-v2",
                        "body_overrides": {"temperature": 0, "metadata": {"shadow": True}},
                        "headers": {"Authorization": "Bearer sk-candidate"},
                    }
                ],
            ) as proxy,
            aiohttp.ClientSession() as session,
        ):
            body = {**CHAT, "stream": True, "metadata": {"team": "search"}}
            async with session.post(
                proxy.url + "/v1/chat/completions",
                json=body,
                headers={
                    "Authorization": "Bearer sk-client",
                    "Cookie": "session=abc",
                    "X-Team": "t1",
                },
            ) as response:
                client_bytes = await response.read()
            await proxy.state.mirror.tasks.drain(5)
        assert b'"usage"' not in client_bytes  # the client did not ask for usage and got none
        sent = orjson.loads(cand.stats.bodies[-1])
        headers = cand.stats.headers[-1]
    assert sent["model"] == "cand-model-v2"
    assert sent["temperature"] == 0
    assert sent["metadata"] == {"team": "search", "shadow": True}
    assert sent["stream_options"] == {"include_usage": True}
    lowered = {k.lower(): v for k, v in headers.items()}
    assert lowered["authorization"] == "Bearer sk-candidate"
    assert "cookie" not in lowered
    assert "x-team" not in lowered  # not on the allowlist (see test_headers.py)
    assert lowered["x-darklaunch-shadow"] == "1"
    assert len(lowered["x-darklaunch-pair-id"]) == 32


async def test_client_authorization_reaches_candidate_only_when_configured(
    proxy_factory: ProxyFactory,
) -> None:
    async with (
        running_simulator(SimProfile(name="inc")) as inc,
        running_simulator(SimProfile(name="cand")) as cand,
    ):
        async with (
            proxy_factory(
                inc.url, [{"name": "c", "url": cand.url, "forward_authorization": True}]
            ) as proxy,
            aiohttp.ClientSession() as session,
        ):
            async with session.post(
                proxy.url + "/v1/chat/completions",
                json=CHAT,
                headers={"Authorization": "Bearer sk-client"},
            ) as response:
                await response.read()
            await proxy.state.mirror.tasks.drain(5)
        lowered = {k.lower(): v for k, v in cand.stats.headers[-1].items()}
    assert lowered["authorization"] == "Bearer sk-client"


@pytest.mark.parametrize("forward_authorization", [False, True])
def test_the_client_tags_header_never_reaches_a_candidate(forward_authorization: bool) -> None:
    """The tags are for darklaunch's record: a candidate answering differently because of
    them would skew the very comparison they segment."""
    config = CandidateConfig(
        name="c", url="http://127.0.0.1:1", forward_authorization=forward_authorization
    )
    client = CIMultiDictProxy(
        CIMultiDict(
            [
                ("X-Darklaunch-Tags", "tenant=acme"),
                ("x-darklaunch-tags", "b=2"),
                ("User-Agent", "sdk"),
            ]
        )
    )
    headers = candidate_headers(config, client, "p" * 32)
    assert "x-darklaunch-tags" not in headers
    assert headers["user-agent"] == "sdk"
