"""The simulator answers the content bank's questions with the bank's facts, worded in the
profile's style: checked over real HTTP on 127.0.0.1 through the official ``openai`` SDK, the
way the proxy and the demo meet it.

What the release gate's semantic check needs from it: a paraphrasing candidate words every
answer differently and keeps every fact, a wrong one changes facts and keeps them wrong.
"""

from __future__ import annotations

import difflib
import json
import statistics
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import openai
import pytest

from proxy.sim import text
from proxy.sim.answers import Item, JsonDoc, Prose, ToolUse, items
from proxy.sim.answers.refusals import CORES
from proxy.sim.demo import CANDIDATE_PROFILES, INCUMBENT_PROFILE
from proxy.sim.profile import SimProfile
from proxy.sim.server import running_simulator

# Content as the demo's profiles have it, without their waits; no content noise and no
# refusals, which are the noise floor's and the refusal check's business, not wording's.
EXACT: dict[str, Any] = {
    "latency_ms": 0,
    "latency_jitter_ms": 0,
    "token_interval_ms": 0,
    "content_noise_rate": 0.0,
    "refusal_rate": 0.0,
    "seed": 7,
}
INCUMBENT = INCUMBENT_PROFILE.model_copy(update=EXACT)
PARAPHRASING = CANDIDATE_PROFILES["paraphrasing"].model_copy(update={**EXACT, "seed": 8})


@asynccontextmanager
async def client_for(profile: SimProfile) -> AsyncIterator[openai.AsyncOpenAI]:
    async with running_simulator(profile, host="127.0.0.1") as server:
        client = openai.AsyncOpenAI(
            base_url=server.url + "/v1", api_key="x", max_retries=0, timeout=10
        )
        try:
            yield client
        finally:
            await client.close()


async def ask(client: openai.AsyncOpenAI, item: Item, **extra: Any) -> Any:
    """The non-streamed message for ``item``, with its tools and response format."""
    kwargs: dict[str, Any] = dict(extra)
    if item.tools and "tools" not in kwargs:
        kwargs["tools"] = list(item.tools)
    if item.response_format is not None:
        kwargs["response_format"] = item.response_format
    reply = await client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": item.question}], **kwargs
    )
    return reply.choices[0].message


async def collect_into(stream: Any, sink: list[Any]) -> None:
    async for chunk in stream:
        sink.append(chunk)


def fact_tokens(item: Item) -> list[str]:
    """The prose answer's fact tokens as they must appear in any wording: thousands
    separators may go (``8,849`` -> ``8849``), nothing else."""
    assert isinstance(item.answer, Prose)
    return [slot.value.replace(",", "") for slot in item.answer.slots]


def similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a.split(), b.split(), autojunk=False).ratio()


async def test_paraphrasing_words_every_answer_its_own_way_and_keeps_every_fact() -> None:
    prose = [*items("prose")[:8], *items("short_fact")[:8]]
    async with client_for(INCUMBENT) as incumbent, client_for(PARAPHRASING) as candidate:
        pairs = []
        for item in prose:
            said = (await ask(incumbent, item)).content
            again = (await ask(incumbent, item)).content
            own = (await ask(candidate, item)).content
            for fact in fact_tokens(item):
                for answer in (said, again, own):
                    assert fact in answer.replace(",", ""), (item.key, fact, answer)
            pairs.append((said, again, own))
        document = items("json")[0]
        json_said = json.loads((await ask(incumbent, document)).content)
        json_own = json.loads((await ask(candidate, document)).content)
        call = items("tool_call")[0]
        [tool_said] = (await ask(incumbent, call)).tool_calls
        [tool_own] = (await ask(candidate, call)).tool_calls
    assert all(own != said for said, _, own in pairs)
    # Reworded beyond the incumbent's own wobble: its second answer is closer to its first.
    replica = statistics.mean(similarity(said, again) for said, again, _ in pairs)
    paraphrased = statistics.mean(similarity(said, own) for said, _, own in pairs)
    assert paraphrased < replica - 0.05, (paraphrased, replica)
    assert isinstance(document.answer, JsonDoc)
    assert json_said == json_own == document.answer.document
    assert isinstance(call.answer, ToolUse)
    for tool_call in (tool_said, tool_own):
        assert tool_call.function.name == call.answer.name
        assert json.loads(tool_call.function.arguments) == call.answer.arguments


async def test_content_errors_are_sticky_per_question_and_change_what_is_said() -> None:
    wrong = SimProfile(name="cand", content_error_rate=1.0, style="mixed")
    documents, calls = items("json")[:6], items("tool_call")[:6]
    async with client_for(wrong) as client:
        for item in documents:
            first = json.loads((await ask(client, item)).content)
            second = json.loads((await ask(client, item)).content)
            assert isinstance(item.answer, JsonDoc)
            assert first == second != item.answer.document
        for item in calls:
            first = [(c.function.name, json.loads(c.function.arguments)) for c in
                     (await ask(client, item)).tool_calls]  # fmt: skip
            second = [(c.function.name, json.loads(c.function.arguments)) for c in
                      (await ask(client, item)).tool_calls]  # fmt: skip
            assert isinstance(item.answer, ToolUse)
            assert first == second != [(item.answer.name, item.answer.arguments)]
    # The lower half of the rate is subtle, the upper half gross: a share of questions each.
    shares = [text.stable_fraction("cand", i.question, "content") for i in items("prose")]
    assert 0.3 < sum(s < 0.5 for s in shares) / len(shares) < 0.7


async def test_refusable_questions_are_refused_in_varied_words_by_every_profile() -> None:
    refusable = items("refusable")[:10]
    async with client_for(INCUMBENT) as incumbent, client_for(PARAPHRASING) as candidate:
        said = [(await ask(client, item)).content for item in refusable for client in
                (incumbent, candidate)]  # fmt: skip
    assert all(any(core[1:] in answer for core in CORES) for answer in said), said
    assert len(set(said)) > len(said) // 2


async def test_a_bank_tool_question_without_its_tools_is_answered_in_words() -> None:
    item = items("tool_call")[0]
    assert isinstance(item.answer, ToolUse)
    others = [t for t in item.tools if t["function"]["name"] != item.answer.name]
    assert others
    async with client_for(INCUMBENT) as client:
        without = await ask(client, item, tools=others)
        not_now = await ask(client, item, tool_choice="none")
    for message in (without, not_now):
        assert message.tool_calls is None
        assert message.content


async def test_bank_answers_stream_to_the_same_facts_and_report_their_usage() -> None:
    prose, call = items("prose")[3], items("tool_call")[3]
    offered: Any = list(call.tools)
    async with client_for(PARAPHRASING.model_copy(update={"tokens_per_chunk": 2})) as client:
        stream = await client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": prose.question}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
        tools = await client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": call.question}],
            tools=offered,
            stream=True,
        )
        deltas = [d for c in [c async for c in tools] if c.choices for d in
                  c.choices[0].delta.tool_calls or []]  # fmt: skip
    names = "".join(d.function.name or "" for d in deltas if d.function)
    arguments = "".join(d.function.arguments or "" for d in deltas if d.function)
    said = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 5
    for fact in fact_tokens(prose):
        assert fact in said.replace(",", "")
    usage = chunks[-1].usage
    assert usage is not None
    assert usage.completion_tokens == text.estimate_tokens(said)
    assert isinstance(call.answer, ToolUse)
    assert names == call.answer.name
    assert json.loads(arguments) == call.answer.arguments


async def test_fault_modes_deliver_bank_answers_as_they_deliver_any_other() -> None:
    item = items("prose")[5]
    messages: Any = [{"role": "user", "content": item.question}]
    async with client_for(PARAPHRASING.model_copy(update={"mode": "die_mid_stream"})) as client:
        stream = await client.chat.completions.create(model="m", messages=messages, stream=True)
        seen: list[Any] = []
        with pytest.raises(openai.APIConnectionError):
            await collect_into(stream, seen)
    assert seen
    assert all(c.choices[0].finish_reason is None for c in seen)
    huge = PARAPHRASING.model_copy(update={"mode": "huge", "huge_bytes": 200_000})
    async with running_simulator(huge) as server, aiohttp.ClientSession() as session:
        payload = {"messages": messages}
        async with session.post(server.url + "/v1/chat/completions", json=payload) as response:
            raw = await response.read()
    assert len(raw) == 200_000
    said = json.loads(raw)["choices"][0]["message"]["content"]
    assert all(fact in said.replace(",", "") for fact in fact_tokens(item))


async def test_the_responses_api_calls_the_bank_tool_too() -> None:
    item = items("tool_call")[9]
    assert isinstance(item.answer, ToolUse)
    tools: Any = [{"type": "function", **t["function"]} for t in item.tools]
    async with client_for(INCUMBENT) as client:
        response = await client.responses.create(model="m", input=item.question, tools=tools)
    [call] = [o for o in response.output if o.type == "function_call"]
    assert call.name == item.answer.name
    assert json.loads(call.arguments) == item.answer.arguments
