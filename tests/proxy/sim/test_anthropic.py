"""The simulator's Anthropic Messages API, checked through the official ``anthropic`` SDK, and
against its own chat completions: the same question gets the same answer in both formats."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import aiohttp
import anthropic
import httpx2
import openai
import pytest

from proxy.sim import anthropic as sim_anthropic
from proxy.sim import text, wire
from proxy.sim.answers import items
from proxy.sim.profile import SimProfile
from proxy.sim.server import SimServer, running_simulator

PROMPT = "How should I tune the timeout and connection reuse of my proxy server?"
SYSTEM = "You are a helpful assistant."
WEATHER: Any = {
    "name": "get_weather",
    "description": "Weather forecast for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
        "required": ["city"],
    },
}
CLOCK: Any = {"name": "get_time", "input_schema": {"type": "object", "properties": {}}}
THINKING: Any = {"type": "enabled", "budget_tokens": 1024}


@asynccontextmanager
async def sdk(
    profile: SimProfile | None = None,
) -> AsyncIterator[tuple[SimServer, anthropic.AsyncAnthropic]]:
    async with running_simulator(profile or SimProfile()) as server:
        # The SDK appends /v1/messages to base_url itself: the simulator's root, not /v1.
        client = anthropic.AsyncAnthropic(base_url=server.url, api_key="test", max_retries=0)
        try:
            yield server, client
        finally:
            await client.close()


def ask(prompt: str = PROMPT, **extra: Any) -> dict[str, Any]:
    """Keyword arguments of ``messages.create``: a system prompt and one user turn."""
    messages = [{"role": "user", "content": prompt}]
    body = {"model": "claude-test", "max_tokens": 2000, "system": SYSTEM, "messages": messages}
    return body | extra


async def collect_types(stream: Any, sink: list[str]) -> None:
    async for event in stream:
        sink.append(event.type)


def texts(message: Any) -> str:
    return "".join(b.text for b in message.content if b.type == "text")


async def raw_events(server: SimServer, body: dict[str, Any]) -> list[tuple[str, Any]]:
    """A stream's SSE events as (``event:`` name, parsed ``data:``), read off the socket."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(server.url + "/v1/messages", json=body | {"stream": True}) as response,
    ):
        raw = (await response.read()).decode()
    events = []
    for block in raw.strip().split("\n\n"):
        name, data = block.split("\n")
        assert name.startswith("event: ")
        assert data.startswith("data: ")
        events.append((name[7:], json.loads(data[6:])))
    return events


async def test_a_plain_message_parses_with_usage_and_echoes_the_model() -> None:
    async with sdk() as (server, client):
        message = await client.messages.create(**ask())
    assert message.id.startswith("msg_")
    assert (message.type, message.role, message.model) == ("message", "assistant", "claude-test")
    [block] = message.content
    assert block.type == "text"
    assert block.text.startswith("Here is how I see")
    assert (message.stop_reason, message.stop_sequence) == ("end_turn", None)
    usage = message.usage
    assert usage.output_tokens == text.estimate_tokens(block.text)
    # system and user text, 3 tokens a message, as chat counts its prompt
    expected_input = text.estimate_tokens(SYSTEM) + text.estimate_tokens(PROMPT) + 6
    assert usage.input_tokens == expected_input
    assert (usage.cache_creation_input_tokens, usage.cache_read_input_tokens) == (0, 0)
    assert (message._request_id or "").startswith("req_")
    assert server.stats.by_path == {"/v1/messages": 1}
    assert "anthropic-version" in server.stats.headers[0]


async def test_the_stream_sends_anthropics_event_sequence_with_event_and_data_lines() -> None:
    async with running_simulator(SimProfile(tokens_per_chunk=1)) as server:
        events = await raw_events(server, ask(thinking=THINKING, tools=[WEATHER]))
    names = [name for name, _ in events]
    assert all(data["type"] == name for name, data in events)
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert names.count("ping") == 1
    start = events[0][1]["message"]
    assert (start["content"], start["stop_reason"], start["usage"]["output_tokens"]) == (
        [],
        None,
        1,
    )
    kinds = [d["delta"]["type"] for n, d in events if n == "content_block_delta"]
    thinking = kinds.index("signature_delta")
    assert set(kinds[:thinking]) == {"thinking_delta"}
    assert thinking > 1  # thinking arrives in several pieces, then its signature
    assert len(kinds) - thinking - 1 > 1
    assert set(kinds[thinking + 1 :]) == {"text_delta"}
    opened = [d["content_block"]["type"] for n, d in events if n == "content_block_start"]
    assert opened == ["thinking", "text"]
    assert events[-2][1]["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}


async def test_a_streamed_message_assembles_to_the_plain_one() -> None:
    async with sdk(SimProfile(tokens_per_chunk=2)) as (_, client):
        plain = await client.messages.create(**ask())
        async with client.messages.stream(**ask()) as stream:
            pieces = [piece async for piece in stream.text_stream]
            final = await stream.get_final_message()
        raw = await client.messages.create(**ask(), stream=True)
        deltas = [e.delta.text async for e in raw if e.type == "content_block_delta"]
    assert len(pieces) > 1
    assert "".join(pieces) == "".join(deltas) == texts(final) == texts(plain)
    assert final.usage == plain.usage
    assert final.stop_reason == plain.stop_reason == "end_turn"


async def test_a_bank_tool_question_is_a_tool_use_block_streamed_or_not() -> None:
    item = items("tool_call")[0]
    tools = [
        {"name": f["name"], "description": f["description"], "input_schema": f["parameters"]}
        for f in (tool["function"] for tool in item.tools)
    ]
    async with sdk(SimProfile(tokens_per_chunk=1)) as (_, client):
        plain = await client.messages.create(**ask(item.question, tools=tools))
        async with client.messages.stream(**ask(item.question, tools=tools)) as stream:
            streamed = await stream.get_final_message()
    for message in (plain, streamed):
        [block] = message.content
        assert isinstance(block, anthropic.types.ToolUseBlock)
        assert block.id.startswith("toolu_")
        assert block.name == "get_weather"
        assert isinstance(block.input, dict)
        assert block.input["city"] == "Krakow"
        assert block.input["days"] == 6
        assert message.stop_reason == "tool_use"


async def test_tool_input_streams_in_several_partial_json_pieces() -> None:
    async with running_simulator(SimProfile(tokens_per_chunk=1)) as server:
        body = ask("Use get_weather for Paris over several days.", tools=[WEATHER])
        events = await raw_events(server, body)
    parts = [d["delta"]["partial_json"] for n, d in events if n == "content_block_delta"]
    opened = next(d["content_block"] for n, d in events if n == "content_block_start")
    assert len(parts) > 1
    assert opened["input"] == {}
    assert opened["id"].startswith("toolu_")
    assert json.loads("".join(parts))["city"] == "Paris"


async def test_a_tool_result_is_answered_in_words_so_agent_loops_end() -> None:
    call = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": '{"temperature": 21}'}
    history: Any = [
        {"role": "user", "content": "Use get_weather for Paris."},
        {"role": "assistant", "content": [call]},
        {"role": "user", "content": [result]},
    ]
    async with sdk() as (_, client):
        message = await client.messages.create(
            model="m", max_tokens=500, messages=history, tools=[WEATHER]
        )
    assert message.stop_reason == "end_turn"
    assert [b.type for b in message.content] == ["text"]


@pytest.mark.parametrize(
    ("tool_choice", "expected"),
    [
        ({"type": "none"}, []),
        ({"type": "auto"}, []),
        ({"type": "any"}, ["get_weather"]),
        ({"type": "tool", "name": "get_time"}, ["get_time"]),
    ],
)
async def test_tool_choice_decides_whether_a_tool_is_called(
    tool_choice: Any, expected: list[str]
) -> None:
    async with sdk() as (_, client):
        message = await client.messages.create(
            **ask(tools=[WEATHER, CLOCK], tool_choice=tool_choice)
        )
    assert [b.name for b in message.content if b.type == "tool_use"] == expected
    assert message.stop_reason == ("tool_use" if expected else "end_turn")


async def test_thinking_comes_first_signed_and_leaves_the_answer_unchanged() -> None:
    async with sdk() as (_, client):
        plain = await client.messages.create(**ask())
        thought = await client.messages.create(**ask(thinking=THINKING))
        async with client.messages.stream(**ask(thinking=THINKING)) as stream:
            streamed = await stream.get_final_message()
    assert [b.type for b in thought.content] == ["thinking", "text"]
    thinking = thought.content[0]
    assert thinking.type == "thinking"
    assert PROMPT in thinking.thinking
    assert thinking.signature == sim_anthropic.signature(thinking.thinking)
    assert texts(thought) == texts(plain)
    assert thought.usage.output_tokens == plain.usage.output_tokens + text.estimate_tokens(
        thinking.thinking
    )
    assert streamed.content[0] == thinking
    assert texts(streamed) == texts(thought)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"thinking": {"type": "enabled", "budget_tokens": 512}}, "budget_tokens"),
        ({"thinking": THINKING, "max_tokens": 1024}, "greater than `thinking.budget_tokens`"),
        ({"thinking": THINKING, "tool_choice": {"type": "any"}}, "forces tool use"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"extra_body": {"temperature": 1.5}}, "temperature"),
        ({"tool_choice": {"type": "tool"}}, "tool_choice.name: Field required"),
        ({"messages": [{"role": "system", "content": "x"}]}, "messages.0.role"),
    ],
)
async def test_invalid_requests_raise_bad_request_errors(extra: Any, message: str) -> None:
    async with sdk() as (_, client):
        with pytest.raises(anthropic.BadRequestError, match=message) as caught:
            await client.messages.create(**ask(tools=[WEATHER]) | extra)
    body = cast(dict[str, Any], caught.value.body)
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert caught.value.request_id == body["request_id"]


async def test_a_missing_max_tokens_is_a_bad_request() -> None:
    body = ask()
    del body["max_tokens"]  # the SDK insists on it, so post the body as it is
    async with sdk() as (_, client):
        with pytest.raises(anthropic.BadRequestError) as caught:
            await client.post("/v1/messages", body=body, cast_to=anthropic.types.Message)
    assert caught.value.status_code == 400
    assert cast(dict[str, Any], caught.value.body)["error"] == {
        "type": "invalid_request_error",
        "message": "max_tokens: Field required",
    }


async def test_a_body_that_is_not_json_gets_an_anthropic_error() -> None:
    async with (
        running_simulator(SimProfile()) as server,
        aiohttp.ClientSession() as session,
        session.post(server.url + "/v1/messages", data=b"{no") as response,
    ):
        assert response.status == 400
        body = await response.json()
    assert body["type"] == "error"
    assert set(body["error"]) == {"type", "message"}


@pytest.mark.parametrize(
    ("status", "error", "kind"),
    [
        (500, anthropic.InternalServerError, "api_error"),
        (529, anthropic.OverloadedError, "overloaded_error"),
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (401, anthropic.AuthenticationError, "authentication_error"),
        (400, anthropic.BadRequestError, "invalid_request_error"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
async def test_the_profiles_error_status_surfaces_as_the_sdks_exception(
    status: int, error: type[anthropic.APIStatusError], kind: str, stream: bool
) -> None:
    profile = SimProfile(name="inc", mode="error", error_status=status)
    async with sdk(profile) as (_, client):
        with pytest.raises(error, match="simulated upstream 'inc' failed") as caught:
            await client.messages.create(**ask(), stream=stream)
    assert caught.value.status_code == status
    body = cast(dict[str, Any], caught.value.body)
    assert body["error"]["type"] == kind
    assert caught.value.request_id == body["request_id"]


async def test_the_same_prompt_gets_the_same_answer_from_chat_and_from_messages() -> None:
    """A phrase-bank prompt, and a bank question worded afresh from the seeded RNG: the first
    request of two simulators with the same profile gets the same words in both formats."""
    fact = items("short_fact")[0].question
    answers: dict[str, list[str]] = {"chat": [], "messages": []}
    for prompt in (PROMPT, fact):
        profile = SimProfile(seed=7, style="mixed", nondeterminism=0.5)
        async with running_simulator(profile) as chat_server, sdk(profile) as (_, client):
            chat = openai.AsyncOpenAI(base_url=chat_server.url + "/v1", api_key="x", max_retries=0)
            messages: Any = [{"role": "system", "content": SYSTEM}]
            messages.append({"role": "user", "content": prompt})
            reply = await chat.chat.completions.create(model="m", messages=messages)
            await chat.close()
            message = await client.messages.create(**ask(prompt))
        answers["chat"].append(reply.choices[0].message.content or "")
        answers["messages"].append(texts(message))
        assert reply.usage is not None
        assert message.usage.input_tokens == reply.usage.prompt_tokens
    assert answers["chat"] == answers["messages"]
    assert "Canberra" in answers["messages"][1]


async def test_stop_sequences_cut_the_text_where_the_first_one_appears() -> None:
    async with sdk() as (_, client):
        whole = texts(await client.messages.create(**ask()))
        stop = whole.split()[5]
        message = await client.messages.create(**ask(stop_sequences=["never there", stop]))
    assert texts(message) == whole[: whole.index(stop)]
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", stop)


async def test_max_tokens_cuts_the_text() -> None:
    async with sdk() as (_, client):
        message = await client.messages.create(**ask(max_tokens=5))
    assert message.stop_reason == "max_tokens"
    assert 0 < message.usage.output_tokens <= 5


async def test_a_refusal_is_text_that_ends_the_turn() -> None:
    refusable = items("refusable")[0].question
    async with sdk(SimProfile(refusal_rate=1.0)) as (_, refusing), sdk() as (_, client):
        by_rate = await refusing.messages.create(**ask())
        by_bank = await client.messages.create(**ask(refusable))
    assert texts(by_rate).startswith("I'm sorry")
    assert texts(by_bank)
    assert not texts(by_bank).startswith("Here is how I see")  # not phrase-bank prose
    assert by_rate.stop_reason == by_bank.stop_reason == "end_turn"


async def test_a_cache_control_prefix_is_written_once_then_read() -> None:
    sim_anthropic.forget_cache()
    system: Any = [{"type": "text", "text": SYSTEM * 20, "cache_control": {"type": "ephemeral"}}]
    async with sdk(SimProfile(name="cache-test")) as (_, client):
        first = (await client.messages.create(**ask(system=system))).usage
        again = (await client.messages.create(**ask(system=system))).usage
        other = (await client.messages.create(**ask("Something else?", system=system))).usage
    prefix = text.estimate_tokens(SYSTEM * 20) + 3
    assert (first.cache_creation_input_tokens, first.cache_read_input_tokens) == (prefix, 0)
    assert (again.cache_creation_input_tokens, again.cache_read_input_tokens) == (0, prefix)
    assert (other.cache_creation_input_tokens, other.cache_read_input_tokens) == (0, prefix)
    assert first.input_tokens == again.input_tokens == text.estimate_tokens(PROMPT) + 3


async def test_latency_and_token_interval_pace_the_stream() -> None:
    profile = SimProfile(latency_ms=100, token_interval_ms=20, output_tokens_mean=20)
    async with sdk(profile) as (_, client):
        started = time.monotonic()
        async with client.messages.stream(**ask()) as stream:
            arrivals = [time.monotonic() async for _ in stream.text_stream]
    assert arrivals[0] - started >= 0.09
    assert arrivals[-1] - arrivals[0] >= (len(arrivals) - 1) * 0.02 * 0.7


async def test_die_mid_stream_never_reaches_message_stop() -> None:
    async with sdk(SimProfile(mode="die_mid_stream")) as (_, client):
        stream = await client.messages.create(**ask(), stream=True)
        seen: list[str] = []
        # The SDK wraps connection errors only before the stream: mid-stream its transport's
        # own error comes through.
        with pytest.raises(httpx2.TransportError):
            await collect_types(stream, seen)
    assert seen
    assert "message_stop" not in seen


def test_stream_events_rebuild_the_message_they_stream() -> None:
    answer = wire.Answer(content="One two three four.", tool_calls=[("call_ab", "f", '{"x":1}')])
    content = sim_anthropic.content_blocks(answer, "Hmm, let me see.")
    usage = {"input_tokens": 3, "output_tokens": 9}
    body = sim_anthropic.message("msg_1", "m", content, ("tool_use", None), usage)
    events = sim_anthropic.stream_events(body, tokens_per_chunk=1)
    rebuilt: list[dict[str, Any]] = []
    for _, data, _ in events:
        if data["type"] == "content_block_start":
            rebuilt.append(dict(data["content_block"]))
        elif data["type"] == "content_block_delta":
            delta, block = data["delta"], rebuilt[data["index"]]
            if delta["type"] == "input_json_delta":
                block["json"] = block.get("json", "") + delta["partial_json"]
            else:
                key = delta["type"].removesuffix("_delta")
                block[key] += delta[key]
    rebuilt[2]["input"] = json.loads(rebuilt[2].pop("json"))
    assert rebuilt == content
    assert [b["type"] for b in content] == ["thinking", "text", "tool_use"]
    assert content[2]["id"] == "toolu_ab"
    assert events[-2][1]["usage"] == {"output_tokens": 9}
