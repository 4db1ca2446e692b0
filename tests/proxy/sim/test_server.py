"""The simulator, checked through the official ``openai`` SDK so its wire format stays honest."""

from __future__ import annotations

import asyncio
import difflib
import json
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import openai
import pytest

from proxy.sim import text
from proxy.sim.profile import SimProfile
from proxy.sim.server import SimServer, SimStats, running_simulator

PROMPT = "How should I tune the timeout and connection reuse of my proxy server?"
MESSAGES: Any = [{"role": "user", "content": PROMPT}]
WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
            },
            "required": ["city", "unit"],
        },
    },
}
CLOCK: Any = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
}


@asynccontextmanager
async def sdk(
    profile: SimProfile | None = None, client_timeout: float = 5.0
) -> AsyncIterator[tuple[SimServer, openai.AsyncOpenAI]]:
    async with running_simulator(profile or SimProfile()) as server:
        client = openai.AsyncOpenAI(
            base_url=server.url + "/v1", api_key="x", max_retries=0, timeout=client_timeout
        )
        try:
            yield server, client
        finally:
            await client.close()


async def in_flight_becomes(server: SimServer, value: int) -> bool:
    for _ in range(200):
        if server.stats.in_flight == value:
            return True
        await asyncio.sleep(0.01)
    return False


async def collect_into(stream: Any, sink: list[Any]) -> None:
    async for item in stream:
        sink.append(item)


def similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a.split(), b.split(), autojunk=False).ratio()


async def chat_text(client: openai.AsyncOpenAI, prompt: str = PROMPT) -> str:
    reply = await client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": prompt}]
    )
    return reply.choices[0].message.content or ""


async def test_chat_completion_parses_with_usage_and_echoes_the_model() -> None:
    async with sdk(SimProfile(model="sim-default")) as (server, client):
        reply = await client.chat.completions.create(model="gpt-test", messages=MESSAGES)
        default = await client.chat.completions.create(model="", messages=MESSAGES)
    assert reply.id.startswith("chatcmpl-")
    assert reply.object == "chat.completion"
    assert (reply.model, default.model) == ("gpt-test", "sim-default")
    [choice] = reply.choices
    assert choice.message.role == "assistant"
    assert choice.message.content
    assert choice.message.refusal is None
    assert choice.finish_reason == "stop"
    usage = reply.usage
    assert usage is not None
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.completion_tokens == text.estimate_tokens(choice.message.content)
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 0
    assert reply._request_id is not None
    assert server.stats.by_path == {"/v1/chat/completions": 2}
    assert json.loads(server.stats.bodies[0])["model"] == "gpt-test"
    assert server.stats.headers[0]["authorization"] == "Bearer x"


async def test_streamed_chat_assembles_to_the_same_text_and_reports_usage() -> None:
    async with sdk(SimProfile(tokens_per_chunk=2)) as (_, client):
        whole = await chat_text(client)
        stream = await client.chat.completions.create(
            model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].choices[0].delta.content == ""
    *body, last = chunks
    assert last.choices == []
    assert last.usage is not None
    assert last.usage.completion_tokens == text.estimate_tokens(whole)
    assert "".join(c.choices[0].delta.content or "" for c in body) == whole
    assert body[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in body)


async def test_streamed_parallel_tool_calls_assemble_to_json_arguments() -> None:
    prompt = "Call get_weather for Paris and get_time too."
    async with sdk() as (_, client):
        stream = await client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": prompt}],
            tools=[WEATHER, CLOCK],
            stream=True,
        )
        calls: dict[int, dict[str, str]] = {}
        finish = None
        async for chunk in stream:
            choice = chunk.choices[0]
            finish = choice.finish_reason or finish
            for delta in choice.delta.tool_calls or []:
                slot = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                if delta.id:
                    slot["id"] += delta.id
                if delta.function and delta.function.name:
                    slot["name"] += delta.function.name
                if delta.function and delta.function.arguments:
                    slot["arguments"] += delta.function.arguments
        again = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": prompt}], tools=[WEATHER, CLOCK]
        )
    assert finish == "tool_calls"
    assert [calls[i]["name"] for i in sorted(calls)] == ["get_weather", "get_time"]
    weather = json.loads(calls[0]["arguments"])
    assert weather["city"] == "Paris"
    assert weather["unit"] in {"celsius", "fahrenheit"}
    assert 1 <= weather["days"] <= 7
    assert json.loads(calls[1]["arguments"]) == {}
    # Deterministic per prompt: the same call ids and arguments without streaming.
    message = again.choices[0].message
    assert message.content is None
    assert message.tool_calls is not None
    assert [(c.id, c.function.arguments) for c in message.tool_calls] == [  # type: ignore[union-attr]
        (calls[i]["id"], calls[i]["arguments"]) for i in sorted(calls)
    ]


async def test_a_tool_result_is_answered_in_words_so_agent_loops_end() -> None:
    history: Any = [
        {"role": "user", "content": "Use get_weather for Paris."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temperature": 21}'},
    ]
    async with sdk() as (_, client):
        reply = await client.chat.completions.create(model="m", messages=history, tools=[WEATHER])
    assert reply.choices[0].finish_reason == "stop"
    assert reply.choices[0].message.tool_calls is None
    assert reply.choices[0].message.content


@pytest.mark.parametrize(
    ("tool_choice", "expected"),
    [
        ("none", None),
        ("auto", None),
        ("required", "get_weather"),
        ({"type": "function", "function": {"name": "get_time"}}, "get_time"),
    ],
)
async def test_tool_choice_decides_whether_a_tool_is_called(
    tool_choice: Any, expected: str | None
) -> None:
    async with sdk() as (_, client):
        reply = await client.chat.completions.create(
            model="m", messages=MESSAGES, tools=[WEATHER, CLOCK], tool_choice=tool_choice
        )
    calls = reply.choices[0].message.tool_calls
    assert (calls[0].function.name if calls else None) == expected  # type: ignore[union-attr]


async def test_json_modes_return_json_and_fill_the_schema() -> None:
    schema: Any = {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "score": {"type": "number"},
            "size": {"$ref": "#/$defs/Size"},
        },
        "$defs": {"Size": {"type": "string", "enum": ["s", "m", "l"]}},
        "required": ["title", "tags", "score", "size"],
    }
    async with sdk() as (_, client):
        plain = await client.chat.completions.create(
            model="m", messages=MESSAGES, response_format={"type": "json_object"}
        )
        shaped = await client.chat.completions.create(
            model="m",
            messages=MESSAGES,
            response_format={"type": "json_schema", "json_schema": {"name": "s", "schema": schema}},
        )
    assert isinstance(json.loads(plain.choices[0].message.content or ""), dict)
    filled = json.loads(shaped.choices[0].message.content or "")
    assert set(filled) == {"title", "tags", "score", "size"}
    assert isinstance(filled["title"], str)
    assert isinstance(filled["tags"], list)
    assert isinstance(filled["score"], float)
    assert filled["size"] in {"s", "m", "l"}


async def test_n_choices_and_max_tokens_truncation() -> None:
    async with sdk() as (_, client):
        reply = await client.chat.completions.create(
            model="m", messages=MESSAGES, n=3, max_completion_tokens=5
        )
    assert [c.index for c in reply.choices] == [0, 1, 2]
    assert all(c.finish_reason == "length" for c in reply.choices)
    assert all(text.estimate_tokens(c.message.content or "") <= 5 for c in reply.choices)


async def test_legacy_completions_stream_and_non_stream() -> None:
    async with sdk() as (_, client):
        whole = await client.completions.create(model="m", prompt=PROMPT, max_tokens=200)
        stream = await client.completions.create(
            model="m",
            prompt=PROMPT,
            max_tokens=200,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    assert whole.object == "text_completion"
    assert whole.choices[0].finish_reason == "stop"
    assert "".join(c.choices[0].text for c in chunks if c.choices) == whole.choices[0].text
    assert chunks[-1].usage == whole.usage


async def test_responses_api_without_streaming() -> None:
    async with sdk() as (_, client):
        response = await client.responses.create(model="m", input=PROMPT, instructions="Be brief.")
    assert response.object == "response"
    assert response.id.startswith("resp_")
    assert response.status == "completed"
    assert response.output_text
    assert response.usage is not None
    assert response.usage.output_tokens == text.estimate_tokens(response.output_text)
    usage = response.usage
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens


async def test_responses_api_stream_events_in_order() -> None:
    async with sdk(SimProfile(tokens_per_chunk=3)) as (_, client):
        stream = await client.responses.create(model="m", input=PROMPT, stream=True)
        events = [event async for event in stream]
        async with client.responses.stream(model="m", input=PROMPT) as helper:
            final = await helper.get_final_response()
    kinds = [e.type for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.output_text == deltas == final.output_text
    assert completed.response.usage is not None


async def test_responses_api_streams_function_calls() -> None:
    tool: Any = {"type": "function", "name": "get_weather", "strict": False}
    tool["parameters"] = WEATHER["function"]["parameters"]
    async with (
        sdk() as (_, client),
        client.responses.stream(
            model="m", input="What does get_weather say for Paris?", tools=[tool]
        ) as helper,
    ):
        final = await helper.get_final_response()
    [call] = final.output
    assert call.type == "function_call"
    assert call.name == "get_weather"
    assert json.loads(call.arguments)["city"] == "Paris"


async def test_embeddings_are_deterministic_unit_vectors_in_both_encodings() -> None:
    async with sdk() as (_, client):
        default = await client.embeddings.create(model="e", input=["alpha", "beta"])
        floats = await client.embeddings.create(
            model="e", input="alpha", dimensions=8, encoding_format="float"
        )
    assert [d.index for d in default.data] == [0, 1]
    assert len(default.data[0].embedding) == 16
    assert len(floats.data[0].embedding) == 8
    assert sum(x * x for x in default.data[0].embedding) == pytest.approx(1.0, rel=1e-4)
    assert default.data[0].embedding != default.data[1].embedding
    assert default.usage.prompt_tokens == default.usage.total_tokens > 0


async def test_models_lists_the_profile_model() -> None:
    async with sdk(SimProfile(model="listed")) as (_, client):
        page = await client.models.list()
    assert [m.id for m in page.data] == ["listed"]


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
        (429, openai.RateLimitError),
        (400, openai.BadRequestError),
    ],
)
async def test_error_mode_answers_an_openai_error_body(
    status: int, error: type[openai.APIStatusError]
) -> None:
    async with sdk(SimProfile(name="inc", mode="error", error_status=status)) as (_, client):
        with pytest.raises(error, match="simulated upstream 'inc' failed") as caught:
            await chat_text(client)
    assert caught.value.status_code == status
    assert isinstance(caught.value.body, dict)
    assert set(caught.value.body) == {"message", "type", "param", "code"}


async def test_error_rate_fails_a_seeded_share_of_requests() -> None:
    async with sdk(SimProfile(error_rate=0.5, seed=11)) as (_, client):
        outcomes = []
        for _ in range(40):
            try:
                await chat_text(client)
                outcomes.append(True)
            except openai.InternalServerError:
                outcomes.append(False)
    assert 5 < outcomes.count(False) < 35


async def test_hang_times_out_client_side_and_frees_the_handler() -> None:
    async with sdk(SimProfile(mode="hang"), client_timeout=0.5) as (server, client):
        started = time.monotonic()
        with pytest.raises(openai.APITimeoutError):
            await chat_text(client)
        assert time.monotonic() - started < 3
        assert await in_flight_becomes(server, 0)


async def test_shutdown_is_not_held_up_by_a_hung_request() -> None:
    outcome: list[BaseException] = []
    client: openai.AsyncOpenAI | None = None

    async def hung_call(client: openai.AsyncOpenAI) -> None:
        try:
            await chat_text(client)
        except openai.APIError as exc:
            outcome.append(exc)

    try:
        async with asyncio.TaskGroup() as group:
            async with running_simulator(SimProfile(mode="hang")) as server:
                url = server.url + "/v1"
                client = openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0, timeout=30)
                group.create_task(hung_call(client))
                assert await in_flight_becomes(server, 1)
                started = time.monotonic()
            elapsed = time.monotonic() - started
    finally:
        if client is not None:
            await client.close()
    assert elapsed < 2
    assert [type(e) for e in outcome] == [openai.APIConnectionError]


@pytest.mark.parametrize("stream", [False, True])
async def test_reset_raises_a_connection_error(stream: bool) -> None:
    async with sdk(SimProfile(mode="reset")) as (_, client):
        with pytest.raises(openai.APIConnectionError):
            await client.chat.completions.create(model="m", messages=MESSAGES, stream=stream)


async def test_die_mid_stream_never_reaches_done() -> None:
    async with sdk(SimProfile(mode="die_mid_stream")) as (_, client):
        stream = await client.chat.completions.create(
            model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        seen: list[Any] = []
        with pytest.raises(openai.APIConnectionError):
            await collect_into(stream, seen)
    assert seen
    assert all(c.usage is None and c.choices[0].finish_reason is None for c in seen)


async def test_malformed_sse_breaks_the_sdk_parser() -> None:
    async with sdk(SimProfile(mode="malformed_sse")) as (_, client):
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        with pytest.raises(json.JSONDecodeError):
            _ = [chunk async for chunk in stream]
        await stream.close()


async def test_slow_headers_answers_late_but_answers() -> None:
    async with sdk(SimProfile(mode="slow_headers", slow_headers_ms=300)) as (_, client):
        started = time.monotonic()
        assert await chat_text(client)
    assert time.monotonic() - started >= 0.25


async def test_token_interval_paces_the_stream() -> None:
    profile = SimProfile(token_interval_ms=20, output_tokens_mean=20, latency_ms=100)
    async with sdk(profile) as (_, client):
        started = time.monotonic()
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        arrivals = [(time.monotonic(), c) async for c in stream if c.choices[0].delta.content]
    first_token = arrivals[0][0] - started
    spread = arrivals[-1][0] - arrivals[0][0]
    assert first_token >= 0.09
    assert spread >= (len(arrivals) - 1) * 0.02 * 0.7
    assert spread < 5


@pytest.mark.parametrize("stream", [False, True])
async def test_huge_pads_the_answer_to_the_byte_budget(stream: bool) -> None:
    async with running_simulator(SimProfile(mode="huge", huge_bytes=300_000)) as server:
        payload = {"messages": MESSAGES, "stream": stream}
        async with (
            aiohttp.ClientSession() as session,
            session.post(server.url + "/v1/chat/completions", json=payload) as response,
        ):
            raw = await response.read()
    assert len(raw) >= 300_000
    if stream:
        assert raw.endswith(b"data: [DONE]\n\n")
    else:
        assert len(raw) == 300_000
        assert json.loads(raw)["object"] == "chat.completion"


async def test_garbage_bad_json_and_unknown_paths() -> None:
    async with (
        running_simulator(SimProfile(mode="garbage")) as server,
        aiohttp.ClientSession(base_url=server.url) as session,
    ):
        async with session.post("/v1/chat/completions", json={}) as response:
            assert response.status == 200
            with pytest.raises(ValueError, match=r"."):
                json.loads(await response.read())
        server.profile.mode = "ok"
        async with session.post("/v1/chat/completions", data=b"{no") as response:
            assert response.status == 400
            assert (await response.json())["error"]["type"] == "invalid_request_error"
        async with session.post("/v1/chat/completions", json={}) as response:
            assert response.status == 400
            assert (await response.json())["error"]["param"] == "messages"
        async with session.get("/v1/nothing") as response:
            assert response.status == 404
            error = (await response.json())["error"]
    assert error == {
        "message": "Invalid URL (GET /v1/nothing)",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    assert server.stats.by_path["/v1/nothing"] == 1


async def test_profile_can_be_switched_while_running() -> None:
    original = SimProfile()
    async with sdk(original) as (server, client):
        assert await chat_text(client)
        server.profile = server.profile.model_copy(update={"mode": "error"})
        with pytest.raises(openai.InternalServerError):
            await chat_text(client)
        server.profile.mode = "ok"
        assert await chat_text(client)
    assert original.mode == "ok"  # the app works on its own copy
    with pytest.raises(ValueError, match="mode"):
        server.profile.mode = "bogus"  # type: ignore[assignment]


async def test_same_seed_without_nondeterminism_repeats_exactly() -> None:
    async with sdk(SimProfile(seed=3)) as (_, first), sdk(SimProfile(seed=3)) as (_, second):
        texts = [await chat_text(first) for _ in range(3)] + [await chat_text(second)]
    assert len(set(texts)) == 1


async def test_nondeterminism_rewords_a_little_and_a_seed_replays_it() -> None:
    profile = SimProfile(seed=5, nondeterminism=0.5)
    async with sdk(profile) as (_, first), sdk(profile) as (_, second):
        texts = [await chat_text(first) for _ in range(4)]
        replay = [await chat_text(second) for _ in range(4)]
    assert texts == replay
    assert len(set(texts)) > 1
    for other in texts[1:]:
        assert similarity(texts[0], other) > 0.7


async def test_divergence_is_sticky_per_prompt_and_clearly_different() -> None:
    async with (
        sdk(SimProfile(name="a")) as (_, same),
        sdk(SimProfile(name="b", divergence_rate=1.0)) as (_, apart),
    ):
        base, diverged, again = (
            await chat_text(same),
            await chat_text(apart),
            await chat_text(apart),
        )
    assert diverged == again
    assert similarity(base, diverged) < 0.5


async def test_refusal_rate_refuses_in_content_or_in_the_refusal_field() -> None:
    schema_format: Any = {"type": "json_schema", "json_schema": {"name": "s", "schema": {}}}
    async with sdk(SimProfile(refusal_rate=1.0)) as (_, client):
        plain = await client.chat.completions.create(model="m", messages=MESSAGES)
        structured = await client.chat.completions.create(
            model="m", messages=MESSAGES, response_format=schema_format
        )
    assert (plain.choices[0].message.content or "").startswith("I'm sorry")
    assert structured.choices[0].message.content is None
    assert (structured.choices[0].message.refusal or "").startswith("I'm sorry")


def test_stats_keep_only_the_last_hundred_bodies() -> None:
    stats = SimStats()
    for i in range(150):
        stats.note("/p", str(i).encode(), {"n": str(i)})
    assert stats.requests == 150
    assert stats.by_path == {"/p": 150}
    assert stats.bodies[0] == b"50"
    assert len(stats.bodies) == len(stats.headers) == 100


@pytest.mark.parametrize("limit", [1, 3, 10, 40, 1000])
def test_truncation_and_pieces_keep_text_intact(limit: int) -> None:
    said = text.compose(PROMPT, words=30, divergent=False, nondeterminism=0.0, rng=random.Random(0))
    cut, truncated = text.truncate_to_tokens(said, limit)
    assert truncated == (text.estimate_tokens(said) > limit)
    assert text.estimate_tokens(cut) <= limit
    assert said.startswith(cut)
    assert "".join(text.split_pieces(said, limit)) == said
    assert "".join(text.split_pieces('{"a":"' + "x" * 50 + '"}', 1)) == '{"a":"' + "x" * 50 + '"}'


def test_cached_tokens_only_for_long_prompts() -> None:
    assert text.cached_tokens(127) == 0
    assert text.cached_tokens(128) == 64
    assert text.cached_tokens(1000) == 448
