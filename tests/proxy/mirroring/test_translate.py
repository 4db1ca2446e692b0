"""Translating a request between OpenAI Chat Completions and Anthropic Messages: each mapping,
each refusal reason (the detail names the field), round trips, the official SDKs' request
types as an oracle, the SDKs on the wire against the simulator, and hostile input."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import orjson
import pytest
from anthropic.types import MessageCreateParams
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types.chat import CompletionCreateParams
from pydantic import TypeAdapter

import proxy.mirroring.translate as translate
from proxy.mirroring.translate import (
    CHAT_DROPPED,
    MESSAGES_DROPPED,
    REASONS,
    Untranslatable,
    chat_to_messages,
    messages_to_chat,
)
from proxy.sim.profile import SimProfile
from proxy.sim.server import running_simulator

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
CHAT_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {"name": "get_weather", "description": "Weather", "parameters": WEATHER_SCHEMA},
}
ANTHROPIC_TOOL: dict[str, Any] = {
    "name": "get_weather",
    "description": "Weather",
    "input_schema": WEATHER_SCHEMA,
}
PNG = "iVBORw0KGgo="


def call(call_id: str, city: str) -> dict[str, Any]:
    arguments = json.dumps({"city": city})
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": "get_weather", "arguments": arguments},
    }


def chat(*messages: dict[str, Any], **params: Any) -> dict[str, Any]:
    """A chat body: the messages given, or one user question."""
    turns = list(messages) or [{"role": "user", "content": "Hi"}]
    return {"model": "gpt-x", "messages": turns, **params}


def claude(*messages: dict[str, Any], **params: Any) -> dict[str, Any]:
    """A Messages body: the messages given, or one user question."""
    turns = list(messages) or [{"role": "user", "content": "Hi"}]
    return {"model": "claude-x", "max_tokens": 100, "messages": turns, **params}


def to_messages(body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    out = chat_to_messages(body, **kwargs)
    assert not isinstance(out, Untranslatable), out
    return out


def to_chat(body: dict[str, Any]) -> dict[str, Any]:
    out = messages_to_chat(body)
    assert not isinstance(out, Untranslatable), out
    return out


# The conversation of the round trip: system, tools, parallel tool calls and their results.
CONVERSATION = chat(
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Weather in Paris and Rome?"},
    {"role": "assistant", "content": None, "tool_calls": [call("c1", "Paris"), call("c2", "Rome")]},
    {"role": "tool", "tool_call_id": "c1", "content": "18C"},
    {"role": "tool", "tool_call_id": "c2", "content": "21C"},
    {"role": "assistant", "content": "Paris 18C, Rome 21C."},
    {"role": "user", "content": "And tomorrow?"},
    tools=[CHAT_TOOL],
    tool_choice="auto",
    max_completion_tokens=300,
    temperature=0.2,
    stop=["END"],
    user="user-7",
)


# --- OpenAI chat -> Anthropic Messages: the mappings -----------------------------------------


def test_conversation_maps_to_alternating_turns() -> None:
    out = to_messages(CONVERSATION)
    assert out == {
        "model": "gpt-x",
        "system": "Be brief.",
        "messages": [
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "c1",
                        "name": "get_weather",
                        "input": {"city": "Paris"},
                    },
                    {
                        "type": "tool_use",
                        "id": "c2",
                        "name": "get_weather",
                        "input": {"city": "Rome"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "c1", "content": "18C"},
                    {"type": "tool_result", "tool_use_id": "c2", "content": "21C"},
                ],
            },
            {"role": "assistant", "content": "Paris 18C, Rome 21C."},
            {"role": "user", "content": "And tomorrow?"},
        ],
        "max_tokens": 300,
        "temperature": 0.2,
        "stop_sequences": ["END"],
        "tools": [ANTHROPIC_TOOL],
        "tool_choice": {"type": "auto"},
        "metadata": {"user_id": "user-7"},
    }


def test_system_and_developer_messages_join_with_blank_lines() -> None:
    out = to_messages(
        chat(
            {"role": "system", "content": "One."},
            {"role": "developer", "content": [{"type": "text", "text": "Two."}]},
            {"role": "user", "content": "Hi"},
        )
    )
    assert out["system"] == "One.\n\nTwo."
    assert out["messages"] == [{"role": "user", "content": "Hi"}]


def test_content_parts_become_blocks_and_images_keep_their_source() -> None:
    parts = [
        {"type": "text", "text": "What is this?"},
        {
            "type": "image_url",
            "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "low"},
        },
        {"type": "image_url", "image_url": {"url": f"data:image/jpg;base64,{PNG}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.webp"}},
    ]
    out = to_messages(chat({"role": "user", "content": parts}))
    assert out["messages"][0]["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.webp"}},
    ]


def test_consecutive_turns_of_one_role_are_merged() -> None:
    out = to_messages(
        chat(
            {"role": "user", "content": "First."},
            {"role": "user", "content": [{"type": "text", "text": "Second."}]},
            {"role": "assistant", "content": "Reply."},
            {"role": "assistant", "content": "More."},
            {"role": "user", "content": "Third."},
        )
    )
    assert out["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "First."}, {"type": "text", "text": "Second."}],
        },
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "Reply."}, {"type": "text", "text": "More."}],
        },
        {"role": "user", "content": "Third."},
    ]


def test_assistant_text_comes_before_its_tool_calls() -> None:
    out = to_messages(
        chat(
            {"role": "user", "content": "Paris?"},
            {"role": "assistant", "content": "Checking.", "tool_calls": [call("c1", "Paris")]},
            {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "18C"}]},
        )
    )
    assistant, results = out["messages"][1:]
    assert assistant["content"][0] == {"type": "text", "text": "Checking."}
    assert assistant["content"][1]["type"] == "tool_use"
    assert results["content"] == [
        {"type": "tool_result", "tool_use_id": "c1", "content": [{"type": "text", "text": "18C"}]}
    ]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"max_completion_tokens": 10, "max_tokens": 20}, 10),
        ({"max_tokens": 20}, 20),
        ({}, 4096),
        ({"max_tokens": None}, 4096),
    ],
)
def test_max_tokens(params: dict[str, Any], expected: int) -> None:
    assert to_messages(chat(**params))["max_tokens"] == expected


def test_default_max_tokens_is_the_callers() -> None:
    assert to_messages(chat(), default_max_tokens=777)["max_tokens"] == 777


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"stop": "END"}, {"stop_sequences": ["END"]}),
        ({"stop": ["a", "b"]}, {"stop_sequences": ["a", "b"]}),
        ({"stop": None}, {}),
        ({"stop": []}, {}),
        ({"temperature": 1}, {"temperature": 1}),
        ({"temperature": 0}, {"temperature": 0}),
        ({"top_p": 0.9}, {"top_p": 0.9}),
        ({"stream": True, "stream_options": {"include_usage": True}}, {"stream": True}),
        ({"stream": False}, {"stream": False}),
        ({"user": "u"}, {"metadata": {"user_id": "u"}}),
        ({"safety_identifier": "s"}, {"metadata": {"user_id": "s"}}),
        ({"user": "u", "safety_identifier": "s"}, {"metadata": {"user_id": "u"}}),
        ({"n": 1, "logprobs": False, "top_logprobs": 0}, {}),
        ({"presence_penalty": 0, "frequency_penalty": 0.0, "logit_bias": {}}, {}),
        ({"seed": None, "reasoning_effort": None, "modalities": ["text"]}, {}),
        ({"response_format": {"type": "text"}}, {}),
    ],
)
def test_parameters(params: dict[str, Any], expected: dict[str, Any]) -> None:
    base = to_messages(chat())
    assert to_messages(chat(**params)) == base | expected


@pytest.mark.parametrize("key", sorted(CHAT_DROPPED))
def test_harmless_keys_are_dropped(key: str) -> None:
    assert to_messages(chat(**{key: {"any": "value"}})) == to_messages(chat())


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("required", {"type": "any"}),
        ("none", {"type": "none"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"type": "tool", "name": "get_weather"},
        ),
    ],
)
def test_tool_choice(choice: Any, expected: dict[str, Any]) -> None:
    assert to_messages(chat(tools=[CHAT_TOOL], tool_choice=choice))["tool_choice"] == expected


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (None, {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", {"type": "any", "disable_parallel_tool_use": True}),
        ("none", {"type": "none"}),
    ],
)
def test_parallel_tool_calls_false_disables_parallel_use(choice: Any, expected: Any) -> None:
    body = chat(tools=[CHAT_TOOL], tool_choice=choice, parallel_tool_calls=False)
    assert to_messages(body)["tool_choice"] == expected
    assert "tool_choice" not in to_messages(chat(parallel_tool_calls=False))
    assert "tool_choice" not in to_messages(chat(tools=[CHAT_TOOL], parallel_tool_calls=True))


def test_tools_get_a_default_schema_and_keep_strict() -> None:
    tools = [
        {"type": "function", "function": {"name": "now"}},
        {"type": "function", "function": {"name": "now2", "parameters": {}}},
        {
            "type": "function",
            "function": {"name": "f", "parameters": WEATHER_SCHEMA, "strict": True},
        },
    ]
    out = to_messages(chat(tools=tools))
    empty = {"type": "object", "properties": {}}
    assert out["tools"] == [
        {"name": "now", "input_schema": empty},
        {"name": "now2", "input_schema": empty},
        {"name": "f", "input_schema": WEATHER_SCHEMA, "strict": True},
    ]


def test_strict_json_schema_becomes_structured_output() -> None:
    fmt = {
        "type": "json_schema",
        "json_schema": {"name": "w", "schema": WEATHER_SCHEMA, "strict": True},
    }
    out = to_messages(chat(response_format=fmt))
    assert out["output_config"] == {"format": {"type": "json_schema", "schema": WEATHER_SCHEMA}}


# --- Anthropic Messages -> OpenAI chat: the mappings -----------------------------------------


def test_messages_map_to_chat() -> None:
    body = claude(
        {
            "role": "user",
            "content": [{"type": "text", "text": "Paris?", "cache_control": {"type": "ephemeral"}}],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "Use the tool.", "signature": "sig"},
                {"type": "redacted_thinking", "data": "xyz"},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Paris"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "18C", "is_error": False},
                {"type": "text", "text": "Thanks."},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                },
                {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
            ],
        },
        system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        tools=[ANTHROPIC_TOOL | {"cache_control": {"type": "ephemeral"}}],
        tool_choice={"type": "any", "disable_parallel_tool_use": True},
        stop_sequences=["END"],
        stream=True,
        temperature=0.5,
        top_p=0.9,
        metadata={"user_id": "user-7"},
        service_tier="auto",
        cache_control={"type": "ephemeral"},
    )
    assert to_chat(body) == {
        "model": "claude-x",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Paris?"},
            {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    call("t1", "Paris")
                    | {"function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
                ],
            },
            {"role": "tool", "tool_call_id": "t1", "content": "18C"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Thanks."},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                ],
            },
        ],
        "max_completion_tokens": 100,
        "temperature": 0.5,
        "top_p": 0.9,
        "stop": ["END"],
        "stream": True,
        "stream_options": {"include_usage": True},
        "tools": [CHAT_TOOL],
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "user": "user-7",
    }


def test_a_user_turn_splits_around_tool_results_in_order() -> None:
    body = claude(
        {"role": "user", "content": "Go"},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "a", "name": "f", "input": {}},
                {"type": "tool_use", "id": "b", "name": "f", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "a",
                    "content": [{"type": "text", "text": "1"}],
                },
                {"type": "tool_result", "tool_use_id": "b", "is_error": True, "content": "boom"},
                {"type": "text", "text": "Go on."},
                {"type": "text", "text": "Please."},
            ],
        },
    )
    messages = to_chat(body)["messages"]
    assert messages[1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}},
            {"id": "b", "type": "function", "function": {"name": "f", "arguments": "{}"}},
        ],
    }
    assert messages[2:] == [
        {"role": "tool", "tool_call_id": "a", "content": "1"},
        {"role": "tool", "tool_call_id": "b", "content": "boom"},
        {
            "role": "user",
            "content": [{"type": "text", "text": "Go on."}, {"type": "text", "text": "Please."}],
        },
    ]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"system": "S"}, [{"role": "system", "content": "S"}]),
        ({"system": ""}, []),
        ({"system": []}, []),
        (
            {"system": [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}]},
            [
                {
                    "role": "system",
                    "content": [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}],
                }
            ],
        ),
    ],
)
def test_system_prompt_leads(params: dict[str, Any], expected: list[Any]) -> None:
    assert to_chat(claude(**params))["messages"] == [*expected, {"role": "user", "content": "Hi"}]


def test_a_mid_conversation_system_turn_stays_in_place() -> None:
    body = claude(
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "system", "content": "Now answer in French."},
        {"role": "user", "content": "Bye"},
    )
    assert to_chat(body)["messages"][2] == {"role": "system", "content": "Now answer in French."}


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, "auto"),
        ({"type": "any"}, "required"),
        ({"type": "none"}, "none"),
        (
            {"type": "tool", "name": "get_weather"},
            {"type": "function", "function": {"name": "get_weather"}},
        ),
    ],
)
def test_tool_choice_reverse(choice: dict[str, Any], expected: Any) -> None:
    out = to_chat(claude(tools=[ANTHROPIC_TOOL], tool_choice=choice))
    assert out["tool_choice"] == expected
    assert "parallel_tool_calls" not in out


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"stream": False}, {"stream": False}),
        ({"stop_sequences": ["a", "b", "c", "d"]}, {"stop": ["a", "b", "c", "d"]}),
        ({"stop_sequences": []}, {}),
        ({"metadata": {"user_id": None}}, {}),
        ({"thinking": {"type": "disabled"}}, {}),
        (
            {"tools": [ANTHROPIC_TOOL | {"type": "custom", "strict": True}]},
            {"tools": [{"type": "function", "function": CHAT_TOOL["function"] | {"strict": True}}]},
        ),
        (
            {"output_config": {"format": {"type": "json_schema", "schema": WEATHER_SCHEMA}}},
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "response", "schema": WEATHER_SCHEMA, "strict": True},
                }
            },
        ),
        (
            {"output_format": {"type": "json_schema", "schema": WEATHER_SCHEMA}},
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "response", "schema": WEATHER_SCHEMA, "strict": True},
                }
            },
        ),
    ],
)
def test_parameters_reverse(params: dict[str, Any], expected: dict[str, Any]) -> None:
    assert to_chat(claude(**params)) == to_chat(claude()) | expected


@pytest.mark.parametrize("key", sorted(MESSAGES_DROPPED))
def test_harmless_keys_are_dropped_reverse(key: str) -> None:
    assert to_chat(claude(**{key: "any"})) == to_chat(claude())


# --- Refusals --------------------------------------------------------------------------------

Q = {"role": "user", "content": "Q"}
BAD_ARGS = call("c1", "Paris") | {"function": {"name": "f", "arguments": "{city: Paris"}}
LIST_ARGS = call("c1", "Paris") | {"function": {"name": "f", "arguments": "[1]"}}
RESULT = {"role": "tool", "tool_call_id": "c1", "content": "x"}


def user_parts(*parts: dict[str, Any]) -> dict[str, Any]:
    """A chat body whose one user turn has these content parts."""
    return chat({"role": "user", "content": list(parts)})


def image(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


def answered(assistant: dict[str, Any], after: dict[str, Any] = Q) -> dict[str, Any]:
    """A chat body with this assistant turn between two user turns (or a tool result)."""
    return chat(Q, {"role": "assistant"} | assistant, after)


def strict_schema(**extra: Any) -> dict[str, Any]:
    spec = {"name": "w", "schema": {}, "strict": True} | extra
    return {"type": "json_schema", "json_schema": spec}


# (body, reason, text the detail must contain: the field's path)
CHAT_REFUSALS: list[tuple[Any, str, str]] = [
    ([], "invalid_request", "body"),
    ({"model": "m", "messages": "hi"}, "invalid_request", "messages"),
    (chat(model=7), "invalid_request", "model"),
    (chat(temperature="hot"), "invalid_request", "temperature"),
    (chat(temperature=True), "invalid_request", "temperature"),
    (chat(temperature=-0.5), "invalid_request", "temperature"),
    (chat(max_tokens=0), "invalid_request", "max_tokens"),
    (chat(tool_choice="always"), "invalid_request", "tool_choice"),
    (chat({"role": "user", "content": 5}), "invalid_request", "messages[0].content"),
    (chat({"role": ["user"], "content": "x"}), "invalid_request", "messages[0].role"),
    (user_parts({"type": "text", "text": 1}), "invalid_request", "messages[0].content[0].text"),
    (answered({}), "invalid_request", "messages[1]"),
    (
        answered({"tool_calls": [call("c1", "x") | {"id": 1}]}, RESULT),
        "invalid_request",
        "tool_calls[0].id",
    ),
    (chat(store=True, stream_options={"x": 1}, surprise=1), "unsupported_parameter", "surprise"),
    (chat(presence_penalty=0.5), "unsupported_parameter", "presence_penalty"),
    (chat(frequency_penalty=-1), "unsupported_parameter", "frequency_penalty"),
    (chat(logit_bias={"50256": -100}), "unsupported_parameter", "logit_bias"),
    (chat(seed=42), "unsupported_parameter", "seed"),
    (chat(reasoning_effort="high"), "unsupported_parameter", "reasoning_effort"),
    (chat(verbosity="low"), "unsupported_parameter", "verbosity"),
    (chat(modalities=["text", "audio"]), "unsupported_parameter", "modalities"),
    (chat(web_search_options={}), "unsupported_parameter", "web_search_options"),
    (chat(functions=[{"name": "f"}]), "unsupported_parameter", "functions"),
    (chat(stop=["ok", "  "]), "unsupported_parameter", "stop[1]"),
    (chat(tool_choice={"type": "allowed_tools"}), "unsupported_parameter", "tool_choice.type"),
    (chat({"role": "user", "content": "Hi", "name": "bob"}), "unsupported_content", "[0].name"),
    (user_parts({"type": "input_audio"}), "unsupported_content", "messages[0].content[0].type"),
    (user_parts({"type": "file"}), "unsupported_content", "messages[0].content[0].type"),
    (user_parts(image("ftp://x/a.png")), "unsupported_content", "content[0].image_url.url"),
    (user_parts(image("data:image/bmp;base64,AA")), "unsupported_content", "image_url.url"),
    (user_parts(image("data:image/png,AA")), "unsupported_content", "image_url.url"),
    (answered({"content": None, "refusal": "No."}), "unsupported_content", "messages[1].refusal"),
    (answered({"content": [{"type": "refusal"}]}), "unsupported_content", "messages[1].content[0]"),
    (answered({"audio": {"id": "a1"}}), "unsupported_content", "messages[1].audio"),
    (answered({"content": "x", "function_call": {}}), "unsupported_content", "function_call"),
    (chat({"role": "function", "name": "f", "content": "x"}), "unsupported_content", "[0].role"),
    (
        chat({"role": "system", "content": "Only a system prompt"}),
        "unsupported_content",
        "messages",
    ),
    (
        chat({"role": "system", "content": [image("https://x")]}, Q),
        "unsupported_content",
        "[0].type",
    ),
    (chat(tools=[{"type": "custom", "custom": {}}]), "unsupported_tool", "tools[0].type"),
    (
        chat(tools=[{"type": "function", "function": {"name": "f", "examples": []}}]),
        "unsupported_tool",
        "tools[0].function.examples",
    ),
    (chat(tool_choice={"type": "custom", "custom": {}}), "unsupported_tool", "tool_choice.type"),
    (
        answered({"tool_calls": [{"id": "x", "type": "custom", "custom": {}}]}, RESULT),
        "unsupported_tool",
        "messages[1].tool_calls[0].type",
    ),
    (chat(Q, {"role": "system", "content": "Late"}), "system_in_conversation", "messages[1]"),
    (chat(Q, {"role": "assistant", "content": "Sure"}), "ends_with_assistant", "messages[1]"),
    (
        answered({"tool_calls": [BAD_ARGS]}, RESULT),
        "invalid_tool_arguments",
        "messages[1].tool_calls[0].function.arguments",
    ),
    (answered({"tool_calls": [LIST_ARGS]}, RESULT), "invalid_tool_arguments", "arguments"),
    (chat(temperature=1.5), "temperature_out_of_range", "temperature"),
    (chat(n=2), "n_greater_than_1", "n"),
    (chat(logprobs=True), "logprobs", "logprobs"),
    (chat(top_logprobs=3), "logprobs", "top_logprobs"),
    (chat(response_format={"type": "json_object"}), "response_format", "response_format.type"),
    (chat(response_format=strict_schema(strict=False)), "response_format", "json_schema.strict"),
    (chat(response_format=strict_schema(description="d")), "response_format", "description"),
]


def claude_parts(*blocks: dict[str, Any]) -> dict[str, Any]:
    """A Messages body whose one user turn has these content blocks."""
    return claude({"role": "user", "content": list(blocks)})


def replied(*blocks: dict[str, Any]) -> dict[str, Any]:
    """A Messages body with an assistant turn of these blocks between two user turns."""
    return claude(Q, {"role": "assistant", "content": list(blocks)}, Q)


TOOL_USE = {"type": "tool_use", "id": "t1", "name": "f", "input": {}}
DOCUMENT = {"type": "document", "source": {"type": "text", "media_type": "text/plain"}}
WEB_SEARCH = {"type": "web_search_20250305", "name": "web_search"}
CITED = {"type": "text", "text": "x", "citations": [{"type": "char_location"}]}
TOOL_IMAGE = {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "image"}]}
MESSAGES_REFUSALS: list[tuple[Any, str, str]] = [
    ("body", "invalid_request", "body"),
    ({"max_tokens": 1, "messages": {}}, "invalid_request", "messages"),
    (claude(max_tokens=None), "invalid_request", "max_tokens"),
    (claude(max_tokens=-1), "invalid_request", "max_tokens"),
    (claude(temperature=1.5), "invalid_request", "temperature"),
    (claude(stream="yes"), "invalid_request", "stream"),
    (claude(stop_sequences=[1]), "invalid_request", "stop_sequences[0]"),
    (claude(messages=[]), "invalid_request", "messages"),
    (claude({"role": "tool", "content": "x"}), "invalid_request", "messages[0]"),
    (
        claude_parts({"type": "image", "source": {"type": "base64"}}),
        "invalid_request",
        "media_type",
    ),
    (replied(TOOL_USE | {"input": {1: 2}}), "invalid_request", "messages[1].content[0].input"),
    (replied(TOOL_USE | {"input": [1]}), "invalid_request", "messages[1].content[0].input"),
    (claude(tool_choice={"type": "sometimes"}), "invalid_request", "tool_choice.type"),
    (claude(output_config={"format": {}}, output_format={}), "invalid_request", "output_format"),
    (claude(top_k=40), "unsupported_parameter", "top_k"),
    (
        claude(thinking={"type": "enabled", "budget_tokens": 2048}),
        "unsupported_parameter",
        "thinking",
    ),
    (claude(thinking={"type": "adaptive"}), "unsupported_parameter", "thinking"),
    (claude(output_config={"effort": "high"}), "unsupported_parameter", "output_config.effort"),
    (claude(metadata={"user_id": "u", "team": "x"}), "unsupported_parameter", "metadata.team"),
    (claude(mcp_servers=[{"type": "url"}]), "unsupported_parameter", "mcp_servers"),
    (claude(container="c1"), "unsupported_parameter", "container"),
    (claude(max_tokens=0), "unsupported_parameter", "max_tokens"),
    (claude_parts(DOCUMENT), "unsupported_content", "messages[0].content[0].type"),
    (claude_parts({"type": "image", "source": {"type": "file"}}), "unsupported_content", "source"),
    (claude_parts(CITED), "unsupported_content", "messages[0].content[0].citations"),
    (claude({"role": "user", "content": "Hi", "name": "bob"}), "unsupported_content", "[0].name"),
    (claude_parts(TOOL_IMAGE), "unsupported_content", "messages[0].content[0].content[0].type"),
    (replied({"type": "image", "source": {}}), "unsupported_content", "messages[1].content[0]"),
    (claude(tools=[WEB_SEARCH]), "unsupported_tool", "tools[0].type"),
    (
        claude(tools=[ANTHROPIC_TOOL | {"input_examples": [{"city": "Paris"}]}]),
        "unsupported_tool",
        "tools[0].input_examples",
    ),
    (replied(TOOL_USE | {"type": "server_tool_use"}), "unsupported_tool", "messages[1].content[0]"),
    (claude_parts({"type": "web_search_tool_result"}), "unsupported_tool", "[0].content[0].type"),
    (replied(TOOL_USE | {"caller": {"type": "code_execution"}}), "unsupported_tool", "caller"),
    (claude(Q, {"role": "assistant", "content": "Sure"}), "ends_with_assistant", "messages[1]"),
    (claude(output_config={"format": {"type": "json"}}), "response_format", "output_config.format"),
    (claude(stop_sequences=list("abcde")), "too_many_stop_sequences", "stop_sequences"),
]


@pytest.mark.parametrize(("body", "reason", "field"), CHAT_REFUSALS)
def test_chat_refusals(body: Any, reason: str, field: str) -> None:
    out = chat_to_messages(body)
    assert isinstance(out, Untranslatable)
    assert out.reason == reason, out
    assert field in out.detail, out


@pytest.mark.parametrize(("body", "reason", "field"), MESSAGES_REFUSALS)
def test_messages_refusals(body: Any, reason: str, field: str) -> None:
    out = messages_to_chat(body)
    assert isinstance(out, Untranslatable)
    assert out.reason == reason, out
    assert field in out.detail, out


def test_every_reason_is_exercised() -> None:
    """Each word of the vocabulary is one the translators use, but the caller's own."""
    seen = {reason for _, reason, _ in CHAT_REFUSALS + MESSAGES_REFUSALS}
    assert seen == set(REASONS) - {"unsupported_route"}


def test_untranslatable_takes_only_the_vocabulary() -> None:
    with pytest.raises(ValueError, match="not one of"):
        Untranslatable("whatever", "detail")  # type: ignore[arg-type]


def test_details_shorten_long_values() -> None:
    url = "data:image/tiff;base64," + "A" * 100_000
    out = chat_to_messages(
        chat({"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]})
    )
    assert isinstance(out, Untranslatable)
    assert out.reason == "unsupported_content"
    assert len(out.detail) < 300


def test_deeply_nested_values_are_refused_not_raised() -> None:
    deep: list[Any] = []
    inner = deep
    for _ in range(5000):
        inner.append([])
        inner = inner[0]
    for translated in (chat_to_messages(chat(model=deep)), messages_to_chat(claude(model=deep))):
        assert isinstance(translated, Untranslatable)
        assert translated.reason == "invalid_request"
        assert translated.detail.startswith("model is [[[")


def test_public_surface() -> None:
    assert sorted(translate.__all__) == sorted(
        [
            "CHAT_DROPPED",
            "MESSAGES_DROPPED",
            "OPENAI_MAX_STOP",
            "REASONS",
            "Reason",
            "Untranslatable",
            "chat_to_messages",
            "messages_to_chat",
        ]
    )


# --- Round trips -----------------------------------------------------------------------------


def test_round_trip_preserves_the_conversation() -> None:
    back = to_chat(to_messages(CONVERSATION))
    assert back == {
        "model": "gpt-x",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    },
                    {
                        "id": "c2",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "18C"},
            {"role": "tool", "tool_call_id": "c2", "content": "21C"},
            {"role": "assistant", "content": "Paris 18C, Rome 21C."},
            {"role": "user", "content": "And tomorrow?"},
        ],
        "max_completion_tokens": 300,
        "temperature": 0.2,
        "stop": ["END"],
        "tools": [CHAT_TOOL],
        "tool_choice": "auto",
        "user": "user-7",
    }
    # The arguments are the same JSON, only spelled without spaces.
    for mine, theirs in zip(
        back["messages"][2]["tool_calls"], CONVERSATION["messages"][2]["tool_calls"], strict=True
    ):
        assert json.loads(mine["function"]["arguments"]) == json.loads(
            theirs["function"]["arguments"]
        )


def test_round_trip_from_anthropic() -> None:
    body = claude(
        {"role": "user", "content": "Paris?"},
        {"role": "assistant", "content": [{"type": "text", "text": "Checking."}, TOOL_USE]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "18C"}],
        },
        system="Be brief.",
        tools=[ANTHROPIC_TOOL],
        tool_choice={"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
        stream=True,
        metadata={"user_id": "u"},
    )
    assert to_messages(to_chat(body)) == body


# --- The SDKs' request types as an oracle, and the SDKs on the wire --------------------------

ANTHROPIC_PARAMS: TypeAdapter[Any] = TypeAdapter(MessageCreateParams)
OPENAI_PARAMS: TypeAdapter[Any] = TypeAdapter(CompletionCreateParams)


def _force(value: Any) -> Any:
    """Consume pydantic's lazy validators of ``Iterable`` fields, so that they validate."""
    if isinstance(value, dict):
        return {key: _force(item) for key, item in value.items()}
    if isinstance(value, list | tuple | Iterator):
        return [_force(item) for item in value]
    return value


def sdk_valid_messages(body: dict[str, Any]) -> None:
    _force(ANTHROPIC_PARAMS.validate_python(body))


def sdk_valid_chat(body: dict[str, Any]) -> None:
    _force(OPENAI_PARAMS.validate_python(body))


def test_the_oracle_rejects_what_the_sdk_types_reject() -> None:
    with pytest.raises(ValueError, match="tool_choice"):
        sdk_valid_messages(claude(tool_choice={"type": "sometimes"}))
    with pytest.raises(ValueError, match="role"):
        sdk_valid_chat(chat({"role": "wizard", "content": "x"}))


def test_translations_pass_the_sdk_types() -> None:
    sdk_valid_messages(to_messages(CONVERSATION | {"stream": True, "parallel_tool_calls": False}))
    back = to_chat(to_messages(CONVERSATION | {"stream": True}))
    sdk_valid_chat(back)


def _split_kwargs(method: Callable[..., Any], body: dict[str, Any]) -> dict[str, Any]:
    """The body as keyword arguments of ``method``, anything it does not name in
    ``extra_body`` (anthropic 2.x no longer names ``temperature`` or ``top_p``)."""
    import inspect

    named = set(inspect.signature(method).parameters)
    kwargs = {k: v for k, v in body.items() if k in named}
    extra = {k: v for k, v in body.items() if k not in named}
    return kwargs | ({"extra_body": extra} if extra else {})


async def test_anthropic_sdk_sends_the_translation_unchanged() -> None:
    body = to_messages(CONVERSATION)
    async with running_simulator(SimProfile()) as server:
        client = anthropic.AsyncAnthropic(base_url=server.url, api_key="test", max_retries=0)
        try:
            message = await client.messages.create(**_split_kwargs(client.messages.create, body))
        finally:
            await client.close()
        assert orjson.loads(server.stats.bodies[-1]) == body
    assert message.role == "assistant"


async def test_openai_sdk_sends_the_translation_unchanged() -> None:
    body = to_chat(to_messages(CONVERSATION))
    async with running_simulator(SimProfile()) as server:
        client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="test", max_retries=0)
        try:
            completion = await client.chat.completions.create(**body)
        finally:
            await client.close()
        assert orjson.loads(server.stats.bodies[-1]) == body
    assert completion.choices[0].message.role == "assistant"


# --- Hostile and random input ----------------------------------------------------------------

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
texts = st.text(max_size=6)
text_parts = texts.map(lambda t: {"type": "text", "text": t})
image_parts = st.sampled_from(
    [f"data:image/png;base64,{PNG}", "https://example.com/a.gif", "data:image/jpg;base64,AA"]
).map(lambda url: {"type": "image_url", "image_url": {"url": url}})
call_ids = st.sampled_from(["c1", "c2", "c3"])
arguments = st.dictionaries(st.text(max_size=4), json_scalars, max_size=3).map(json.dumps) | texts
tool_calls = st.builds(
    lambda i, a: {"id": i, "type": "function", "function": {"name": "get_weather", "arguments": a}},
    call_ids,
    arguments,
)
chat_messages = st.one_of(
    st.builds(
        lambda r, c: {"role": r, "content": c}, st.sampled_from(["system", "developer"]), texts
    ),
    st.builds(
        lambda c: {"role": "user", "content": c},
        texts | st.lists(text_parts | image_parts, min_size=1, max_size=3),
    ),
    st.builds(
        lambda c, calls: {"role": "assistant", "content": c, "tool_calls": calls},
        st.none() | texts | st.lists(text_parts, max_size=2),
        st.lists(tool_calls, max_size=2),
    ),
    st.builds(
        lambda i, c: {"role": "tool", "tool_call_id": i, "content": c},
        call_ids,
        texts | st.lists(text_parts, max_size=2),
    ),
)
chat_params = st.fixed_dictionaries(
    {"model": st.just("gpt-x"), "messages": st.lists(chat_messages, min_size=1, max_size=6)},
    optional={
        "temperature": st.floats(0, 1),
        "top_p": st.floats(0, 1),
        "max_tokens": st.integers(1, 1000),
        "max_completion_tokens": st.integers(1, 1000),
        "stop": texts | st.lists(texts, max_size=5),
        "stream": st.booleans(),
        "n": st.just(1),
        "seed": st.none(),
        "user": texts,
        "tools": st.just([CHAT_TOOL]),
        "tool_choice": st.sampled_from(
            ["auto", "none", "required", {"type": "function", "function": {"name": "get_weather"}}]
        ),
        "parallel_tool_calls": st.booleans(),
        "response_format": st.sampled_from(
            [
                {"type": "text"},
                {"type": "json_object"},
                {
                    "type": "json_schema",
                    "json_schema": {"name": "w", "schema": WEATHER_SCHEMA, "strict": True},
                },
            ]
        ),
    },
)


def _mutate(data: st.DataObject, value: Any, depth: int = 0) -> Any:
    """``value`` with one node somewhere inside replaced by random JSON, copied on the way
    down so that the original is left as it was."""
    if depth > 8 or not isinstance(value, dict | list) or not value or data.draw(st.booleans()):
        return data.draw(json_values)
    if isinstance(value, dict):
        key = data.draw(st.sampled_from(sorted(value)))
        return {**value, key: _mutate(data, value[key], depth + 1)}
    index = data.draw(st.integers(0, len(value) - 1))
    return [*value[:index], _mutate(data, value[index], depth + 1), *value[index + 1 :]]


def _normal(body: dict[str, Any]) -> dict[str, Any]:
    """A Messages body with every string content spelled as text blocks, empty ones dropped,
    and an assistant turn's text before its tool calls: what a round trip may respell. (Two
    merged assistant turns can put text after a tool call; an OpenAI message cannot.)"""

    def blocks(content: Any) -> Any:
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        return [
            block
            | ({"content": blocks(block["content"])} if block.get("type") == "tool_result" else {})
            for block in content
            if not (block.get("type") == "text" and block["text"] == "")
        ]

    def turn(message: dict[str, Any]) -> dict[str, Any]:
        content = blocks(message["content"])
        if message["role"] == "assistant":
            content.sort(key=lambda block: block["type"] == "tool_use")
        return message | {"content": content}

    return body | {"messages": [turn(message) for message in body["messages"]]}


def _check(out: Any) -> None:
    assert isinstance(out, dict | Untranslatable)
    if isinstance(out, Untranslatable):
        assert out.reason in REASONS
        assert out.detail


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from([*translate.to_anthropic._KNOWN, *translate.to_openai._KNOWN, "x"]),
        json_values,
        max_size=8,
    )
    | json_values
)
def test_random_json_never_raises(body: Any) -> None:
    before = copy.deepcopy(body)
    _check(chat_to_messages(body))
    _check(messages_to_chat(body))
    assert body == before


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(chat_params, st.data())
def test_mutated_requests_never_raise(body: dict[str, Any], data: st.DataObject) -> None:
    mutated = _mutate(data, body)
    before = copy.deepcopy(mutated)
    _check(chat_to_messages(mutated))
    assert mutated == before
    messages = chat_to_messages(body)
    if isinstance(messages, dict):
        mutated = _mutate(data, messages)
        before = copy.deepcopy(mutated)
        _check(messages_to_chat(mutated))
        assert mutated == before


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(chat_params)
def test_translations_are_valid_and_stable(body: dict[str, Any]) -> None:
    """Whatever translates passes the SDK's request types, translates back to a body that
    passes the other SDK's, and comes through the round trip meaning the same."""
    before = copy.deepcopy(body)
    messages = chat_to_messages(body)
    assert body == before
    if isinstance(messages, Untranslatable):
        assert messages.reason in REASONS
        return
    sdk_valid_messages(messages)
    back = messages_to_chat(messages)
    if isinstance(back, Untranslatable):
        assert back.reason == "too_many_stop_sequences"
        return
    sdk_valid_chat(back)
    again = chat_to_messages(back)
    assert isinstance(again, dict)
    assert _normal(again) == _normal(messages)
