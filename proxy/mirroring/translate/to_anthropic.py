"""An OpenAI Chat Completions request rewritten as an Anthropic Messages request.

Every top-level key is either mapped, dropped because it cannot change what the model is
asked (:data:`CHAT_DROPPED`), accepted at its default value only, or refused. A key this
module does not know is refused too: a candidate that reads a request differently from the
incumbent makes a comparison that means nothing, and a skipped mirror is only a smaller sample.
``docs/formats.md`` has the whole table.
"""

from __future__ import annotations

from typing import Any

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

__all__ = ["CHAT_DROPPED", "chat_to_messages"]

_TARGET = "Anthropic Messages"

# Dropped: bookkeeping, caching, latency and billing hints that leave the answer as it is.
# ``stream_options`` only asks for a usage chunk, and Anthropic streams always carry usage.
CHAT_DROPPED = frozenset(
    "metadata prediction prompt_cache_key prompt_cache_options prompt_cache_retention"
    " service_tier store stream_options".split()
)
# Accepted only at these values (the API's defaults); anything else changes the answer in a
# way Anthropic cannot reproduce. ``()`` means any value given is refused.
_NEUTRAL: dict[str, tuple[Any, ...]] = {
    "frequency_penalty": (0,),
    "logit_bias": ({},),
    "modalities": (["text"],),
    "presence_penalty": (0,),
    **dict.fromkeys(
        "audio function_call functions moderation reasoning_effort seed verbosity"
        " web_search_options".split(),
        (),
    ),
}
_MAPPED = frozenset(
    "model messages max_completion_tokens max_tokens temperature top_p stream stop n logprobs"
    " top_logprobs user safety_identifier tools tool_choice parallel_tool_calls"
    " response_format".split()
)
_KNOWN = CHAT_DROPPED | _MAPPED | frozenset(_NEUTRAL)

_PLAIN = frozenset({"role", "content"})
_MESSAGE_KEYS = dict.fromkeys(("system", "developer", "user"), _PLAIN) | {
    "assistant": _PLAIN | {"tool_calls", "refusal", "audio"},
    "tool": _PLAIN | {"tool_call_id"},
}
# ``prompt_cache_breakpoint`` is a caching hint, dropped like Anthropic's ``cache_control``.
_TEXT_PART_KEYS = frozenset({"type", "text", "prompt_cache_breakpoint"})
_IMAGE_PART_KEYS = frozenset({"type", "image_url", "prompt_cache_breakpoint"})
_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}
_TOOL_CHOICES = {"auto": "auto", "required": "any", "none": "none"}


def chat_to_messages(
    body: dict[str, Any], *, default_max_tokens: int = 4096
) -> dict[str, Any] | Untranslatable:
    """The Anthropic Messages body that asks what the OpenAI chat ``body`` asks, or why not.

    ``default_max_tokens`` fills Anthropic's required ``max_tokens`` when the client set no
    limit (OpenAI's default is the model's own). ``model`` is kept for the caller to rewrite.
    The input is never mutated; the output shares leaf values (schemas, image data) with it.
    """
    try:
        return _translate(body, default_max_tokens)
    except Refused as refused:
        return refused.untranslatable


def _translate(raw: Any, default_max_tokens: int) -> dict[str, Any]:
    body = expect_object(raw, "body")
    only_keys(body, _KNOWN, "", "unsupported_parameter", _TARGET)
    _refuse_non_neutral(body)
    sampling = _sampling(body)
    tools = _tools(body)
    output = _response_format(body.get("response_format"))
    system, turns = _conversation(expect_list(body.get("messages"), "messages"))
    out: dict[str, Any] = {}
    if present(model := body.get("model")):
        out["model"] = expect_str(model, "model")
    if system:
        out["system"] = system
    out["messages"] = turns
    out["max_tokens"] = _max_tokens(body, default_max_tokens)
    out.update(sampling)
    out.update(tools)
    out.update(output)
    if (user_id := _user_id(body)) is not None:
        out["metadata"] = {"user_id": user_id}
    return out


def _refuse_non_neutral(body: dict[str, Any]) -> None:
    for key, neutral in _NEUTRAL.items():
        value = body.get(key)
        if present(value) and value not in neutral:
            refuse("unsupported_parameter", f"{key} is {show(value)}; {_TARGET} has no equivalent")


def _sampling(body: dict[str, Any]) -> dict[str, Any]:
    """Temperature, top_p, stream and stop sequences, after refusing what Anthropic cannot
    sample: several choices, log probabilities, a temperature above its range."""
    out: dict[str, Any] = {}
    if present(n := body.get("n")) and expect_int(n, "n", minimum=1) > 1:
        refuse("n_greater_than_1", f"n is {n}; Anthropic answers with one message")
    if present(logprobs := body.get("logprobs")) and expect_bool(logprobs, "logprobs"):
        refuse("logprobs", "logprobs is true; Anthropic returns no log probabilities")
    if present(top := body.get("top_logprobs")) and expect_int(top, "top_logprobs") > 0:
        refuse("logprobs", f"top_logprobs is {top}; Anthropic returns no log probabilities")
    if present(temperature := body.get("temperature")):
        temperature = expect_number(temperature, "temperature")
        if temperature < 0:
            refuse("invalid_request", f"temperature is {temperature}; expected 0 to 2")
        if temperature > 1:
            refuse("temperature_out_of_range", f"temperature is {temperature}; Anthropic's is 0-1")
        out["temperature"] = temperature
    if present(top_p := body.get("top_p")):
        out["top_p"] = expect_number(top_p, "top_p")
    if present(stream := body.get("stream")):
        out["stream"] = expect_bool(stream, "stream")
    if stops := _stop_sequences(body.get("stop")):
        out["stop_sequences"] = stops
    return out


def _stop_sequences(value: Any) -> list[str]:
    """OpenAI's ``stop``, a string or a list, as a list. A sequence of only whitespace is
    refused: Anthropic does not honour it, so the candidate would not stop where asked."""
    if not present(value):
        return []
    single = isinstance(value, str)
    items = [value] if single else expect_list(value, "stop")
    for index, item in enumerate(items):
        where = "stop" if single else at("stop", index)
        if not expect_str(item, where).strip():
            refuse(
                "unsupported_parameter",
                f"{where} is {show(item)}; Anthropic does not honour whitespace-only stops",
            )
    return list(items)


def _max_tokens(body: dict[str, Any], default: int) -> int:
    """``max_completion_tokens`` (current), else ``max_tokens`` (deprecated), else the
    caller's default: Anthropic requires a limit where OpenAI defaults to the model's."""
    for key in ("max_completion_tokens", "max_tokens"):
        if present(value := body.get(key)):
            return expect_int(value, key, minimum=1)
    return default


def _user_id(body: dict[str, Any]) -> str | None:
    """OpenAI's end-user id (``user``, or its successor ``safety_identifier``) as Anthropic's
    ``metadata.user_id``; both identify the caller's user and neither is read by the model."""
    for key in ("user", "safety_identifier"):
        if present(value := body.get(key)):
            return expect_str(value, key)
    return None


def _tools(body: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if present(raw := body.get("tools")):
        tools = [_tool(tool, at("tools", i)) for i, tool in enumerate(expect_list(raw, "tools"))]
        if tools:
            out["tools"] = tools
    choice = _tool_choice(body.get("tool_choice"))
    parallel = body.get("parallel_tool_calls")
    if present(parallel) and not expect_bool(parallel, "parallel_tool_calls") and "tools" in out:
        # Anthropic says it on the tool choice, which a "none" choice cannot carry (and needs not).
        choice = choice or {"type": "auto"}
        if choice["type"] != "none":
            choice = {**choice, "disable_parallel_tool_use": True}
    if choice is not None:
        out["tool_choice"] = choice
    return out


def _tool(raw: Any, where: str) -> dict[str, Any]:
    tool = expect_object(raw, where)
    if (kind := tool.get("type")) != "function":
        refuse("unsupported_tool", f"{at(where, 'type')} is {show(kind)}; expected function")
    only_keys(tool, frozenset({"type", "function"}), where, "unsupported_tool", _TARGET)
    where = at(where, "function")
    function = expect_object(tool.get("function"), where)
    keys = frozenset({"name", "description", "parameters", "strict"})
    only_keys(function, keys, where, "unsupported_tool", _TARGET)
    out: dict[str, Any] = {"name": expect_str(function.get("name"), at(where, "name"))}
    if present(description := function.get("description")):
        out["description"] = expect_str(description, at(where, "description"))
    parameters = function.get("parameters")
    if present(parameters) and expect_object(parameters, at(where, "parameters")):
        out["input_schema"] = parameters
    else:  # OpenAI reads a missing or empty schema as no parameters; Anthropic needs one
        out["input_schema"] = dict(_EMPTY_SCHEMA)
    if present(strict := function.get("strict")) and expect_bool(strict, at(where, "strict")):
        out["strict"] = True
    return out


def _tool_choice(value: Any) -> dict[str, Any] | None:
    if not present(value):
        return None
    if isinstance(value, str):
        if value not in _TOOL_CHOICES:
            refuse("invalid_request", f"tool_choice is {show(value)}; expected auto/required/none")
        return {"type": _TOOL_CHOICES[value]}
    choice = expect_object(value, "tool_choice")
    kind = choice.get("type")
    if kind == "custom":
        refuse("unsupported_tool", "tool_choice.type is 'custom'; Anthropic has function tools")
    if kind != "function":
        refuse(
            "unsupported_parameter",
            f"tool_choice.type is {show(kind)}; Anthropic chooses auto, any, none or one tool",
        )
    keys = frozenset({"type", "function"})
    only_keys(choice, keys, "tool_choice", "unsupported_parameter", _TARGET)
    function = expect_object(choice.get("function"), "tool_choice.function")
    return {"type": "tool", "name": expect_str(function.get("name"), "tool_choice.function.name")}


def _response_format(value: Any) -> dict[str, Any]:
    """``text`` is the default; a strict ``json_schema`` is Anthropic's structured output
    (``output_config.format``, which always constrains decoding, as OpenAI's strict mode
    does). JSON mode, and a schema that only guides, have no Anthropic equivalent."""
    if not present(value):
        return {}
    where = "response_format"
    fmt = expect_object(value, where)
    kind = fmt.get("type")
    if kind == "text":
        only_keys(fmt, frozenset({"type"}), where, "response_format", _TARGET)
        return {}
    if kind != "json_schema":
        refuse("response_format", f"{where}.type is {show(kind)}; Anthropic has no JSON mode")
    only_keys(fmt, frozenset({"type", "json_schema"}), where, "response_format", _TARGET)
    where = at(where, "json_schema")
    spec = expect_object(fmt.get("json_schema"), where)
    only_keys(spec, frozenset({"name", "schema", "strict"}), where, "response_format", _TARGET)
    expect_str(spec.get("name"), at(where, "name"))
    if (strict := spec.get("strict")) is not True:
        refuse(
            "response_format",
            f"{where}.strict is {show(strict)}; only a strict schema maps to Anthropic's "
            "structured outputs, which always constrain the answer",
        )
    schema = expect_object(spec.get("schema"), at(where, "schema"))
    return {"output_config": {"format": {"type": "json_schema", "schema": schema}}}


def _conversation(messages: list[Any]) -> tuple[str, list[dict[str, Any]]]:
    """The leading system and developer messages as one ``system`` string, and the turns.

    Tool messages become user turns of ``tool_result`` blocks, and consecutive turns of one
    role are merged, since Anthropic requires user and assistant to alternate.
    """
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for index, raw in enumerate(messages):
        where = at("messages", index)
        message = expect_object(raw, where)
        role = message.get("role")
        if not isinstance(role, str) or role not in _MESSAGE_KEYS:
            if role == "function":
                refuse("unsupported_content", f"{where}.role is 'function' (deprecated)")
            refuse("invalid_request", f"{where}.role is {show(role)}; expected a chat role")
        only_keys(message, _MESSAGE_KEYS[role], where, "unsupported_content", _TARGET)
        content = message.get("content")
        if role in ("system", "developer"):
            if turns:
                refuse(
                    "system_in_conversation",
                    f"{where} is a {role} message after the conversation started; "
                    "Anthropic takes one system prompt before the first turn",
                )
            system.extend(_texts(content, at(where, "content")))
        elif role == "user":
            _append(turns, "user", _user_content(content, at(where, "content")))
        elif role == "assistant":
            _append(turns, "assistant", _assistant_content(message, where))
        else:
            _append(turns, "user", [_tool_result(message, where)])
    if not turns:
        refuse("unsupported_content", "messages has only system messages; Anthropic needs a turn")
    if turns[-1]["role"] == "assistant":
        refuse(
            "ends_with_assistant",
            f"messages[{len(messages) - 1}] is an assistant turn; Anthropic would continue it "
            "(a prefill) where OpenAI answers after it",
        )
    return "\n\n".join(text for text in system if text), turns


def _append(turns: list[dict[str, Any]], role: str, content: str | list[Any]) -> None:
    if turns and turns[-1]["role"] == role:
        merged = _blocks(turns[-1]["content"]) + _blocks(content)
        turns[-1] = {"role": role, "content": merged or ""}
    else:
        turns.append({"role": role, "content": content})


def _blocks(content: str | list[Any]) -> list[Any]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return list(content)


def _texts(content: Any, where: str) -> list[str]:
    if isinstance(content, str):
        return [content]
    parts = expect_list(content, where)
    return [_text_part(part, at(where, i)) for i, part in enumerate(parts)]


def _text_part(raw: Any, where: str) -> str:
    part = expect_object(raw, where)
    if (kind := part.get("type")) != "text":
        refuse("unsupported_content", f"{at(where, 'type')} is {show(kind)}; expected text")
    only_keys(part, _TEXT_PART_KEYS, where, "unsupported_content", _TARGET)
    return expect_str(part.get("text"), at(where, "text"))


def _user_content(content: Any, where: str) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    parts = expect_list(content, where)
    return [_user_block(part, at(where, i)) for i, part in enumerate(parts)]


def _user_block(raw: Any, where: str) -> dict[str, Any]:
    part = expect_object(raw, where)
    kind = part.get("type")
    if kind == "text":
        return {"type": "text", "text": _text_part(part, where)}
    if kind != "image_url":
        refuse("unsupported_content", f"{at(where, 'type')} is {show(kind)}; expected text/image")
    return _image_block(part, where)


def _image_block(part: dict[str, Any], where: str) -> dict[str, Any]:
    """An image by URL, or inline from a base64 data URL. OpenAI's ``detail`` is dropped: it
    picks the resolution OpenAI bills and sees, and Anthropic sizes images itself."""
    only_keys(part, _IMAGE_PART_KEYS, where, "unsupported_content", _TARGET)
    where = at(where, "image_url")
    image = expect_object(part.get("image_url"), where)
    only_keys(image, frozenset({"url", "detail"}), where, "unsupported_content", _TARGET)
    where = at(where, "url")
    url = expect_str(image.get("url"), where)
    if url[:8].lower().startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    head, comma, data = url.partition(",")
    scheme, _, spec = head.lower().partition(":")
    media, _, encoding = spec.partition(";")
    if scheme != "data" or not comma or encoding != "base64":
        refuse("unsupported_content", f"{where} is {show(url)}; expected http(s) or base64 data")
    media = "image/jpeg" if media == "image/jpg" else media
    if media not in _IMAGE_TYPES:
        refuse("unsupported_content", f"{where} is {show(url)}; Anthropic takes JPEG/PNG/GIF/WebP")
    return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}


def _assistant_content(message: dict[str, Any], where: str) -> str | list[dict[str, Any]]:
    """Text, then one ``tool_use`` block per tool call. A refusal or an audio answer in the
    history has no Anthropic form: replayed as text it would read as something else."""
    for key in ("refusal", "audio"):
        if present(value := message.get(key)):
            refuse("unsupported_content", f"{at(where, key)} is {show(value)}; no equivalent")
    content = message.get("content")
    calls = message.get("tool_calls")
    calls = expect_list(calls, at(where, "tool_calls")) if present(calls) else []
    if not calls and isinstance(content, str):
        return content
    if not calls and not present(content):
        refuse("invalid_request", f"{where} has neither content nor tool_calls")
    where_content = at(where, "content")
    texts = [content] if isinstance(content, str) else []
    if present(content) and not isinstance(content, str):
        parts = expect_list(content, where_content)
        texts = [_assistant_text(part, at(where_content, i)) for i, part in enumerate(parts)]
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text} for text in texts if text]
    where_calls = at(where, "tool_calls")
    blocks += [_tool_use(call, at(where_calls, i)) for i, call in enumerate(calls)]
    return blocks


def _assistant_text(raw: Any, where: str) -> str:
    if isinstance(raw, dict) and raw.get("type") == "refusal":
        refuse("unsupported_content", f"{where} is a refusal part; Anthropic has no equivalent")
    return _text_part(raw, where)


def _tool_use(raw: Any, where: str) -> dict[str, Any]:
    call = expect_object(raw, where)
    if (kind := call.get("type")) != "function":
        refuse("unsupported_tool", f"{at(where, 'type')} is {show(kind)}; expected function")
    keys = frozenset({"id", "type", "function", "index"})  # ``index`` echoes a stream delta
    only_keys(call, keys, where, "unsupported_tool", _TARGET)
    call_id = expect_str(call.get("id"), at(where, "id"))
    where = at(where, "function")
    function = expect_object(call.get("function"), where)
    only_keys(function, frozenset({"name", "arguments"}), where, "unsupported_tool", _TARGET)
    name = expect_str(function.get("name"), at(where, "name"))
    arguments = expect_str(function.get("arguments"), at(where, "arguments"))
    try:
        parsed = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        refuse(
            "invalid_tool_arguments",
            f"{at(where, 'arguments')} is {show(arguments)}; Anthropic needs a JSON object",
        )
    return {"type": "tool_use", "id": call_id, "name": name, "input": parsed}


def _tool_result(message: dict[str, Any], where: str) -> dict[str, Any]:
    call_id = expect_str(message.get("tool_call_id"), at(where, "tool_call_id"))
    content = message.get("content")
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": call_id}
    if isinstance(content, str):
        block["content"] = content
    else:
        texts = _texts(content, at(where, "content"))
        block["content"] = [{"type": "text", "text": text} for text in texts]
    return block
