"""An Anthropic Messages request rewritten as an OpenAI Chat Completions request.

The mirror image of :mod:`proxy.mirroring.translate.to_anthropic`: every top-level key is
mapped, dropped because it cannot change the answer (:data:`MESSAGES_DROPPED`), or refused,
unknown keys included. ``docs/formats.md`` has the whole table.
"""

from __future__ import annotations

from typing import Any, NoReturn

import orjson

from proxy.mirroring.translate.reasons import (
    Refused,
    Untranslatable,
    at,
    expect_bool,
    expect_int,
    expect_list,
    expect_number,
    expect_object,
    expect_str,
    only_keys,
    present,
    refuse,
    show,
)

__all__ = ["MESSAGES_DROPPED", "OPENAI_MAX_STOP", "messages_to_chat"]

_TARGET = "OpenAI Chat Completions"

# Dropped: caching, routing, latency, attribution and diagnostics that leave the answer as it
# is. ``speed`` picks a faster serving mode of the same model.
MESSAGES_DROPPED = frozenset(
    "cache_control diagnostics inference_geo service_tier speed user_profile_id"
    " workspace_id".split()
)
_MAPPED = frozenset(
    "model messages max_tokens system stop_sequences stream temperature top_p metadata tools"
    " tool_choice thinking output_config output_format".split()
)
_KNOWN = MESSAGES_DROPPED | _MAPPED
OPENAI_MAX_STOP = 4  # OpenAI's limit on ``stop``

_TEXT_BLOCK_KEYS = frozenset({"type", "text", "cache_control", "citations"})
_TOOL_KEYS = frozenset(
    {"type", "name", "description", "input_schema", "cache_control", "strict"}
    | {"eager_input_streaming"}  # how tool input streams, not what it is
)
_TOOL_USE_KEYS = frozenset({"type", "id", "name", "input", "cache_control", "caller"})
_TOOL_RESULT_KEYS = frozenset({"type", "tool_use_id", "content", "is_error", "cache_control"})
_TOOL_CHOICES = {"auto": "auto", "any": "required", "none": "none"}
_THINKING = ("thinking", "redacted_thinking")


def messages_to_chat(body: dict[str, Any]) -> dict[str, Any] | Untranslatable:
    """The OpenAI chat body that asks what the Anthropic Messages ``body`` asks, or why not.

    ``model`` is kept for the caller to rewrite. A stream asks for usage, as an Anthropic
    stream always reports it. The input is never mutated; the output shares leaf values
    (schemas, image data) with it.
    """
    try:
        return _translate(body)
    except Refused as refused:
        return refused.untranslatable


def _translate(raw: Any) -> dict[str, Any]:
    body = expect_object(raw, "body")
    only_keys(body, _KNOWN, "", "unsupported_parameter", _TARGET)
    _refuse_thinking(body.get("thinking"))
    max_tokens = _max_tokens(body.get("max_tokens"))
    sampling = _sampling(body)
    tools = _tools(body)
    output = _response_format(body)
    user = _user(body.get("metadata"))
    messages = _system(body.get("system"))
    messages += _conversation(expect_list(body.get("messages"), "messages"))
    out: dict[str, Any] = {}
    if present(model := body.get("model")):
        out["model"] = expect_str(model, "model")
    out["messages"] = messages
    out["max_completion_tokens"] = max_tokens
    out.update(sampling)
    out.update(tools)
    out.update(output)
    if user is not None:
        out["user"] = user
    return out


def _refuse_thinking(value: Any) -> None:
    """Extended thinking is a token budget or an adaptive mode; OpenAI chat has a reasoning
    effort for reasoning models only. Nothing maps but thinking turned off."""
    if present(value) and expect_object(value, "thinking").get("type") != "disabled":
        refuse("unsupported_parameter", f"thinking is {show(value)}; {_TARGET} has no budget")


def _max_tokens(value: Any) -> int:
    if not present(value):
        refuse("invalid_request", "max_tokens is missing; Anthropic requires it")
    tokens = expect_int(value, "max_tokens")
    if tokens == 0:
        refuse("unsupported_parameter", "max_tokens is 0 (a cache pre-warm); OpenAI needs >= 1")
    return tokens


def _sampling(body: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if present(temperature := body.get("temperature")):
        temperature = expect_number(temperature, "temperature")
        if not 0 <= temperature <= 1:
            refuse("invalid_request", f"temperature is {temperature}; Anthropic's is 0 to 1")
        out["temperature"] = temperature
    if present(top_p := body.get("top_p")):
        out["top_p"] = expect_number(top_p, "top_p")
    if present(raw := body.get("stop_sequences")):
        stops = expect_list(raw, "stop_sequences")
        for index, stop in enumerate(stops):
            expect_str(stop, at("stop_sequences", index))
        if len(stops) > OPENAI_MAX_STOP:
            refuse(
                "too_many_stop_sequences",
                f"stop_sequences has {len(stops)} items; OpenAI takes at most {OPENAI_MAX_STOP}",
            )
        if stops:
            out["stop"] = list(stops)
    if present(stream := body.get("stream")):
        out["stream"] = expect_bool(stream, "stream")
        if stream:
            out["stream_options"] = {"include_usage": True}
    return out


def _user(value: Any) -> str | None:
    if not present(value):
        return None
    metadata = expect_object(value, "metadata")
    only_keys(metadata, frozenset({"user_id"}), "metadata", "unsupported_parameter", _TARGET)
    user_id = metadata.get("user_id")
    return expect_str(user_id, "metadata.user_id") if present(user_id) else None


def _tools(body: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if present(raw := body.get("tools")):
        tools = [_tool(tool, at("tools", i)) for i, tool in enumerate(expect_list(raw, "tools"))]
        if tools:
            out["tools"] = tools
    if not present(raw := body.get("tool_choice")):
        return out
    choice = expect_object(raw, "tool_choice")
    keys = frozenset({"type", "name", "disable_parallel_tool_use"})
    only_keys(choice, keys, "tool_choice", "unsupported_parameter", _TARGET)
    kind = choice.get("type")
    if kind == "tool":
        name = expect_str(choice.get("name"), "tool_choice.name")
        out["tool_choice"] = {"type": "function", "function": {"name": name}}
    elif isinstance(kind, str) and kind in _TOOL_CHOICES:
        out["tool_choice"] = _TOOL_CHOICES[kind]
    else:
        refuse("invalid_request", f"tool_choice.type is {show(kind)}; expected auto/any/tool/none")
    disable = choice.get("disable_parallel_tool_use")
    # OpenAI takes the flag only alongside tools.
    disabled = present(disable) and expect_bool(disable, "tool_choice.disable_parallel_tool_use")
    if disabled and "tools" in out:
        out["parallel_tool_calls"] = False
    return out


def _tool(raw: Any, where: str) -> dict[str, Any]:
    """A client tool as a function. Server tools (web search, code execution, ...) run at
    Anthropic and have no OpenAI chat counterpart."""
    tool = expect_object(raw, where)
    if present(kind := tool.get("type")) and kind != "custom":
        refuse("unsupported_tool", f"{at(where, 'type')} is {show(kind)}; a server tool")
    only_keys(tool, _TOOL_KEYS, where, "unsupported_tool", _TARGET)
    function: dict[str, Any] = {"name": expect_str(tool.get("name"), at(where, "name"))}
    if present(description := tool.get("description")):
        function["description"] = expect_str(description, at(where, "description"))
    function["parameters"] = expect_object(tool.get("input_schema"), at(where, "input_schema"))
    if present(strict := tool.get("strict")) and expect_bool(strict, at(where, "strict")):
        function["strict"] = True
    return {"type": "function", "function": function}


def _response_format(body: dict[str, Any]) -> dict[str, Any]:
    """Anthropic's structured output (``output_config.format``, or the deprecated beta
    ``output_format``) as OpenAI's strict ``json_schema``: both constrain decoding. OpenAI
    needs a schema name, which the model may read; the fixed ``response`` says nothing."""
    found: list[tuple[Any, str]] = []
    if present(raw := body.get("output_config")):
        config = expect_object(raw, "output_config")
        keys = frozenset({"format"})  # ``effort`` is not OpenAI's reasoning_effort
        only_keys(config, keys, "output_config", "unsupported_parameter", _TARGET)
        if present(fmt := config.get("format")):
            found.append((fmt, "output_config.format"))
    if present(fmt := body.get("output_format")):
        found.append((fmt, "output_format"))
    if not found:
        return {}
    if len(found) > 1:
        refuse("invalid_request", "output_config.format and output_format are both set")
    raw, where = found[0]
    spec = expect_object(raw, where)
    if (kind := spec.get("type")) != "json_schema":
        refuse("response_format", f"{where}.type is {show(kind)}; expected json_schema")
    only_keys(spec, frozenset({"type", "schema"}), where, "response_format", _TARGET)
    schema = expect_object(spec.get("schema"), at(where, "schema"))
    json_schema = {"name": "response", "schema": schema, "strict": True}
    return {"response_format": {"type": "json_schema", "json_schema": json_schema}}


def _system(value: Any) -> list[dict[str, Any]]:
    """The system prompt as a leading system message; an empty one as none."""
    if not present(value) or value == "":
        return []
    content = _system_content(value, "system")
    return [{"role": "system", "content": content}] if content else []


def _system_content(value: Any, where: str) -> str | list[dict[str, Any]]:
    if isinstance(value, str):
        return value
    blocks = expect_list(value, where)
    return _collapse([_text_part(block, at(where, i)) for i, block in enumerate(blocks)])


def _conversation(messages: list[Any]) -> list[dict[str, Any]]:
    """The turns in order. A user turn splits around its ``tool_result`` blocks, each of
    which becomes a tool message; a mid-conversation system turn stays where it is, which
    OpenAI allows."""
    if not messages:
        refuse("invalid_request", "messages is empty; Anthropic requires a turn")
    out: list[dict[str, Any]] = []
    role: Any = None
    for index, raw in enumerate(messages):
        where = at("messages", index)
        message = expect_object(raw, where)
        only_keys(message, frozenset({"role", "content"}), where, "unsupported_content", _TARGET)
        role, content = message.get("role"), message.get("content")
        content_at = at(where, "content")
        if role == "user":
            out += _user_turn(content, content_at)
        elif role == "assistant":
            out.append(_assistant_turn(content, content_at))
        elif role == "system":
            out.append({"role": "system", "content": _system_content(content, content_at)})
        else:
            refuse("invalid_request", f"{where}.role is {show(role)}; expected user/assistant")
    if role == "assistant":
        refuse(
            "ends_with_assistant",
            f"messages[{len(messages) - 1}] is an assistant turn, which Anthropic continues "
            "(a prefill); OpenAI would answer after it instead",
        )
    return out


def _user_turn(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    out: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []
    for index, raw in enumerate(expect_list(content, where)):
        block = expect_object(raw, at(where, index))
        if block.get("type") == "tool_result":
            if pending:
                out.append({"role": "user", "content": _collapse(pending)})
                pending = []
            out.append(_tool_message(block, at(where, index)))
        else:
            pending.append(_user_part(block, at(where, index)))
    if pending or not out:  # an empty turn stays a turn
        out.append({"role": "user", "content": _collapse(pending) if pending else ""})
    return out


def _user_part(block: dict[str, Any], where: str) -> dict[str, Any]:
    kind = block.get("type")
    if kind == "text":
        return _text_part(block, where)
    if kind != "image":
        _refuse_block(kind, where)
    keys = frozenset({"type", "source", "cache_control"})
    only_keys(block, keys, where, "unsupported_content", _TARGET)
    where = at(where, "source")
    source = expect_object(block.get("source"), where)
    kind = source.get("type")
    if kind == "base64":
        keys = frozenset({"type", "media_type", "data"})
        only_keys(source, keys, where, "unsupported_content", _TARGET)
        media = expect_str(source.get("media_type"), at(where, "media_type"))
        url = f"data:{media};base64,{expect_str(source.get('data'), at(where, 'data'))}"
    elif kind == "url":
        only_keys(source, frozenset({"type", "url"}), where, "unsupported_content", _TARGET)
        url = expect_str(source.get("url"), at(where, "url"))
    else:
        refuse("unsupported_content", f"{at(where, 'type')} is {show(kind)}; expected base64/url")
    return {"type": "image_url", "image_url": {"url": url}}


def _tool_message(block: dict[str, Any], where: str) -> dict[str, Any]:
    """A tool result as a tool message. ``is_error`` has no OpenAI field and is dropped: the
    content says what went wrong, and that is what the model reads."""
    only_keys(block, _TOOL_RESULT_KEYS, where, "unsupported_content", _TARGET)
    call_id = expect_str(block.get("tool_use_id"), at(where, "tool_use_id"))
    if present(is_error := block.get("is_error")):
        expect_bool(is_error, at(where, "is_error"))
    content = block.get("content")
    text: str | list[dict[str, Any]] = ""
    if isinstance(content, str):
        text = content
    elif present(content):
        where = at(where, "content")
        blocks = expect_list(content, where)
        parts = [_text_part(part, at(where, i)) for i, part in enumerate(blocks)]
        text = _collapse(parts) if parts else ""
    return {"role": "tool", "tool_call_id": call_id, "content": text}


def _assistant_turn(content: Any, where: str) -> dict[str, Any]:
    """Text blocks as content and ``tool_use`` blocks as tool calls. Thinking blocks are
    dropped: OpenAI chat takes no reasoning back, and the turn means the same without it."""
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    texts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for index, raw in enumerate(expect_list(content, where)):
        block = expect_object(raw, at(where, index))
        kind = block.get("type")
        if kind == "text":
            texts.append(_text_part(block, at(where, index)))
        elif kind == "tool_use":
            calls.append(_tool_call(block, at(where, index)))
        elif kind not in _THINKING:
            _refuse_block(kind, at(where, index))
    message: dict[str, Any] = {"role": "assistant"}
    message["content"] = _collapse(texts) if texts else (None if calls else "")
    if calls:
        message["tool_calls"] = calls
    return message


def _tool_call(block: dict[str, Any], where: str) -> dict[str, Any]:
    only_keys(block, _TOOL_USE_KEYS, where, "unsupported_tool", _TARGET)
    caller = block.get("caller")
    if present(caller) and not (isinstance(caller, dict) and caller.get("type") == "direct"):
        refuse("unsupported_tool", f"{at(where, 'caller')} is {show(caller)}; a server caller")
    call_id = expect_str(block.get("id"), at(where, "id"))
    name = expect_str(block.get("name"), at(where, "name"))
    tool_input = expect_object(block.get("input"), at(where, "input"))
    try:
        arguments = orjson.dumps(tool_input).decode()
    except orjson.JSONEncodeError:
        refuse("invalid_request", f"{at(where, 'input')} is {show(tool_input)}; not JSON")
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _text_part(block: Any, where: str) -> dict[str, Any]:
    """A text block as a text part. Cache hints are dropped; citations, which point into
    documents OpenAI chat cannot carry, are refused."""
    block = expect_object(block, where)
    if (kind := block.get("type")) != "text":
        refuse("unsupported_content", f"{at(where, 'type')} is {show(kind)}; expected text")
    only_keys(block, _TEXT_BLOCK_KEYS, where, "unsupported_content", _TARGET)
    if present(citations := block.get("citations")) and citations != []:
        refuse("unsupported_content", f"{at(where, 'citations')} is {show(citations)}")
    return {"type": "text", "text": expect_str(block.get("text"), at(where, "text"))}


def _collapse(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """One text part as a plain string, the form both APIs use most; several as a list."""
    if len(parts) == 1 and parts[0]["type"] == "text":
        text: str = parts[0]["text"]
        return text
    return parts


def _refuse_block(kind: Any, where: str) -> NoReturn:
    """A block OpenAI chat cannot carry: a server tool's (run at Anthropic), or a document,
    search result, container upload or anything newer."""
    if isinstance(kind, str) and (
        kind == "server_tool_use" or kind.endswith("_tool_result") or kind.startswith("mcp_")
    ):
        refuse("unsupported_tool", f"{at(where, 'type')} is {show(kind)}; a server tool's block")
    refuse("unsupported_content", f"{at(where, 'type')} is {show(kind)}; {_TARGET} cannot carry it")
