"""How the simulated model's answers are spelled in Anthropic's Messages API (``/v1/messages``).

A Messages request is read, checked the way the API checks it, and translated into its chat
completions twin (system prompt first, each ``tool_result`` block a ``tool`` message, tools and
``tool_choice`` renamed); :func:`proxy.sim.wire.chat` then decides what the model says. So the
same question gets the same answer in both formats from the same profile (text, tool choice,
refusals, wrong answers, the judge), and only the spelling below differs:

- content blocks: a ``thinking`` block first when thinking is on, then the text, then one
  ``tool_use`` block per tool call (no text block when the model only calls tools);
- ``stop_reason``: ``tool_use``, ``stop_sequence`` (the first of ``stop_sequences`` in the
  text, cut there), ``max_tokens`` (the text was cut) or ``end_turn``. A refusal is spoken
  text ending its turn, as Claude declines; the API's ``refusal`` reason is its safety
  classifier stopping a stream, which the simulator does not model;
- usage: ``input_tokens`` is the chat twin's ``prompt_tokens`` (system and messages, 3 per
  message, tool definitions not counted) less any cached prefix; ``output_tokens`` counts the
  blocks as streamed (thinking, text, and each tool input as compact JSON).

Prompt caching: with no ``cache_control`` anywhere both cache fields are 0. Otherwise the
prefix (whole messages, the system prompt counting as one, up to the last one with a
``cache_control`` block) is written on its first sighting (``cache_creation_input_tokens``)
and read on every later one (``cache_read_input_tokens``), per profile name and model, in
this process, with no TTL and no minimum length; a breakpoint on tools alone caches nothing,
since tool definitions are not counted.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any

from proxy.sim import text, wire

__all__ = [
    "PATH",
    "MessagesRequest",
    "content_blocks",
    "error_body",
    "error_type",
    "forget_cache",
    "message",
    "messages",
    "read_request",
    "signature",
    "stream_events",
    "thinking_text",
]

PATH = "/v1/messages"
Block = dict[str, Any]
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_STOP_REASONS = {"tool_calls": "tool_use", "length": "max_tokens", "stop": "end_turn"}
_TOOL_CHOICES = {"auto": "auto", "any": "required", "none": "none"}
_DELTAS = {
    "thinking": ("thinking_delta", "thinking"),
    "text": ("text_delta", "text"),
    "tool_use": ("input_json_delta", "partial_json"),
}
_MIN_BUDGET = 1024
_MAX_CACHED = 10_000
_cache: OrderedDict[str, None] = OrderedDict()


@dataclass(frozen=True)
class MessagesRequest:
    """A checked Messages request: what shapes the answer, and its chat completions twin.

    ``thinking`` is None when thinking is off, else its token budget (0 for ``adaptive``,
    which sets none); ``cached`` counts the leading chat messages of the cacheable prefix.
    """

    max_tokens: int
    stop_sequences: tuple[str, ...]
    thinking: int | None
    chat: dict[str, Any]
    cached: int


def error_type(status: int) -> str:
    """Anthropic's error ``type`` for an HTTP status: unlisted 4xx are invalid requests."""
    return _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def error_body(status: int, message: str, request_id: str) -> dict[str, Any]:
    """An error as the Messages API answers it, with the ``request_id`` its header repeats."""
    error = {"type": error_type(status), "message": message}
    return {"type": "error", "error": error, "request_id": request_id}


def forget_cache() -> None:
    """Forget every cached prompt prefix, so the next sighting of each is a cache write."""
    _cache.clear()


def _bad(message: str, param: str) -> wire.BadRequest:
    return wire.BadRequest(f"{param}: {message}", param)


def _required(body: dict[str, Any], name: str) -> Any:
    if body.get(name) is None:
        raise _bad("Field required", name)
    return body[name]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_content(value: Any, param: str, text_only: bool = False) -> None:
    """Check a string-or-blocks field: every block an object with a string ``type``."""
    if isinstance(value, str):
        return
    if not isinstance(value, list) or not all(
        isinstance(b, dict) and isinstance(b.get("type"), str) for b in value
    ):
        raise _bad("Input should be a valid string or a list of content blocks", param)
    if text_only and any(b["type"] != "text" for b in value):
        raise _bad("Input should be a list of text blocks", param)


def _marked(content: Any) -> bool:
    """Whether a system prompt or message content carries a ``cache_control`` breakpoint."""
    return isinstance(content, list) and any(b.get("cache_control") for b in content)


def _chat_turns(message: dict[str, Any]) -> list[dict[str, Any]]:
    """One Anthropic turn as chat messages: a user turn's ``tool_result`` blocks become
    ``tool`` messages (so an agent loop ends as in chat), what else it says a user message."""
    role, content = message["role"], message["content"]
    if role != "user" or not isinstance(content, list):
        return [{"role": role, "content": content}]
    results = [b for b in content if b["type"] == "tool_result"]
    rest = [b for b in content if b["type"] != "tool_result"]
    turns = [
        {"role": "tool", "tool_call_id": str(b.get("tool_use_id")), "content": b.get("content")}
        for b in results
    ]
    return [*turns, {"role": "user", "content": rest}] if rest or not results else turns


def _chat_messages(body: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """The chat twin's messages, and how many of them the cacheable prefix covers."""
    items = _required(body, "messages")
    if not isinstance(items, list) or not items:
        raise _bad("at least one message is required", "messages")
    system = body.get("system")
    out: list[dict[str, Any]] = []
    cached = 0
    if system is not None:
        _check_content(system, "system", text_only=True)
        out.append({"role": "system", "content": system})
        cached = 1 if _marked(system) else 0
    for i, item in enumerate(items):
        if not isinstance(item, dict) or item.get("role") not in ("user", "assistant"):
            raise _bad("Input should be 'user' or 'assistant'", f"messages.{i}.role")
        _check_content(_required(item, "content"), f"messages.{i}.content")
        out += _chat_turns(item)
        cached = len(out) if _marked(item["content"]) else cached
    return out, cached


def _chat_tools(specs: Any) -> list[dict[str, Any]]:
    """Custom tools as chat functions; server tools (web search and the like), which have no
    ``input_schema``, are left out, as the simulated model never calls them."""
    if specs is None:
        return []
    if not isinstance(specs, list) or not all(isinstance(s, dict) for s in specs):
        raise _bad("Input should be a valid list", "tools")
    tools = []
    for i, spec in enumerate(specs):
        if spec.get("type", "custom") != "custom":
            continue
        if not isinstance(spec.get("name"), str) or not isinstance(spec.get("input_schema"), dict):
            raise _bad("a custom tool needs a 'name' and an 'input_schema' object", f"tools.{i}")
        fn = {"name": spec["name"], "description": spec.get("description", "")}
        tools.append({"type": "function", "function": fn | {"parameters": spec["input_schema"]}})
    return tools


def _chat_tool_choice(choice: Any) -> tuple[Any, bool]:
    """``tool_choice`` in chat terms, and whether parallel tool calls are allowed."""
    if choice is None:
        return "auto", True
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "tool" and not isinstance(choice.get("name"), str):
        raise _bad("Field required", "tool_choice.name")
    if kind != "tool" and kind not in _TOOL_CHOICES:
        raise _bad("Input should be 'auto', 'any', 'tool' or 'none'", "tool_choice.type")
    parallel = choice.get("disable_parallel_tool_use") is not True
    if kind == "tool":
        return {"type": "function", "function": {"name": choice["name"]}}, parallel
    return _TOOL_CHOICES[str(kind)], parallel


def _thinking(body: dict[str, Any], max_tokens: int, tool_choice: Any) -> int | None:
    """The thinking budget (0 for ``adaptive``), checked against ``max_tokens`` and against
    a forced tool choice, both of which the API rejects."""
    spec = body.get("thinking")
    kind = spec.get("type") if isinstance(spec, dict) else None
    if spec is None or kind == "disabled":
        return None
    if kind not in ("enabled", "adaptive"):
        raise _bad("Input should be 'enabled', 'disabled' or 'adaptive'", "thinking.type")
    if tool_choice not in ("auto", "none"):
        raise wire.BadRequest("Thinking may not be enabled when tool_choice forces tool use.")
    if kind == "adaptive":
        return 0
    budget = spec.get("budget_tokens")
    if not _is_int(budget) or budget < _MIN_BUDGET:
        raise _bad(
            f"Input should be an integer of at least {_MIN_BUDGET}", "thinking.budget_tokens"
        )
    if budget >= max_tokens:
        message = "`max_tokens` must be greater than `thinking.budget_tokens`."
        raise wire.BadRequest(message, "max_tokens")
    return int(budget)


def _check_sampling(body: dict[str, Any]) -> tuple[str, ...]:
    """Check ``model``, ``temperature`` and ``stop_sequences``; return the stop sequences."""
    if not isinstance(_required(body, "model"), str):
        raise _bad("Input should be a valid string", "model")
    temperature = body.get("temperature")
    if temperature is not None and not (
        isinstance(temperature, int | float) and 0 <= temperature <= 1
    ):
        raise _bad("Input should be a number from 0 to 1", "temperature")
    stops = body.get("stop_sequences") or []
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
        raise _bad("Input should be a list of non-empty strings", "stop_sequences")
    return tuple(stops)


def read_request(body: dict[str, Any]) -> MessagesRequest:
    """Check a Messages request body as the API does (raising :class:`wire.BadRequest`, with
    the API's ``field: problem`` messages) and translate it into its chat completions twin."""
    max_tokens = _required(body, "max_tokens")
    if not _is_int(max_tokens) or max_tokens < 1:
        raise _bad("Input should be an integer of at least 1", "max_tokens")
    stops = _check_sampling(body)
    chat_messages, cached = _chat_messages(body)
    tool_choice, parallel = _chat_tool_choice(body.get("tool_choice"))
    thinking = _thinking(body, max_tokens, tool_choice)
    chat = {
        "model": body["model"],
        "messages": chat_messages,
        "tools": _chat_tools(body.get("tools")),
    }
    chat |= {"tool_choice": tool_choice, "parallel_tool_calls": parallel}
    return MessagesRequest(max_tokens, stops, thinking, chat, cached)


def thinking_text(prompt: str, budget: int) -> str:
    """The visible reasoning before an answer: fixed by the prompt, so a thinking answer is as
    repeatable as its text, and independent of the answer, so it can be written first and
    leave the rest of ``max_tokens`` to the answer. Cut to ``budget`` tokens when one is set."""
    topic = " ".join(prompt.split()[:24]) or "an empty message"
    said = (
        f'The user asks: "{topic}". I should work out what they actually need, check each '
        "fact I am about to state, and then answer clearly and directly."
    )
    return text.truncate_to_tokens(said, budget)[0] if budget else said


def signature(thinking: str) -> str:
    """A thinking block's signature: opaque base64 fixed by the thinking it vouches for."""
    return base64.b64encode(hashlib.blake2b(thinking.encode(), digest_size=48).digest()).decode()


def _tool_input(arguments: str) -> dict[str, Any]:
    parsed = json.loads(arguments or "{}")
    return parsed if isinstance(parsed, dict) else {}


def content_blocks(answer: wire.Answer, thinking: str | None) -> list[Block]:
    """A chat answer as Messages content: thinking, then text, then one block per tool call
    (a chat ``call_`` id becomes a ``toolu_`` id with the same hex)."""
    blocks: list[Block] = []
    if thinking is not None:
        blocks.append({"type": "thinking", "thinking": thinking, "signature": signature(thinking)})
    if answer.content:
        blocks.append({"type": "text", "text": answer.content})
    for call_id, name, arguments in answer.tool_calls:
        ident = "toolu_" + call_id.removeprefix("call_")
        blocks.append(
            {"type": "tool_use", "id": ident, "name": name, "input": _tool_input(arguments)}
        )
    return blocks


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _said(block: Block) -> str:
    """What a block streams: its thinking, its text, or its tool input as compact JSON."""
    if block["type"] == "tool_use":
        return _compact(block["input"])
    return str(block[block["type"]])


def _output_tokens(blocks: list[Block]) -> int:
    """Tokens of the blocks exactly as they stream, so both deliveries report the same."""
    return sum(text.estimate_tokens(_said(b)) for b in blocks)


def message(
    ident: str,
    model: str,
    content: list[Block],
    stop: tuple[str | None, str | None],
    usage: dict[str, int],
) -> dict[str, Any]:
    """A Message object; ``stop`` is (``stop_reason``, ``stop_sequence``)."""
    return {
        "id": ident, "type": "message", "role": "assistant", "model": model, "content": content,
        "stop_reason": stop[0], "stop_sequence": stop[1], "usage": usage,
    }  # fmt: skip


def _stop_at(answer: wire.Answer, stops: tuple[str, ...]) -> tuple[wire.Answer, str | None]:
    """Cut the text before the first stop sequence in it, as generation stops there."""
    said = answer.content or ""
    found = [(said.find(s), s) for s in stops if s in said]
    if not found:
        return answer, None
    at, hit = min(found)
    return replace(answer, content=said[:at], finish="stop"), hit


def _input_usage(call: wire.Call, request: MessagesRequest, prompt_tokens: int) -> dict[str, int]:
    """Input tokens, with the cacheable prefix as a cache write or a cache read (module doc)."""
    prefix = request.chat["messages"][: request.cached]
    size = sum(text.estimate_tokens(text.message_text(m["content"])) + 3 for m in prefix)
    seen = False
    if size:
        key = text.stable_hex(call.profile.name, call.model, json.dumps(prefix, sort_keys=True))
        seen = key in _cache
        _cache[key] = None
        _cache.move_to_end(key)
        while len(_cache) > _MAX_CACHED:
            _cache.popitem(last=False)
    return {
        "input_tokens": prompt_tokens - size,
        "cache_creation_input_tokens": 0 if seen else size,
        "cache_read_input_tokens": size if seen else 0,
    }


def _last_user_text(chat_messages: list[dict[str, Any]]) -> str:
    said = [text.message_text(m["content"]) for m in chat_messages if m["role"] == "user"]
    return said[-1] if said else ""


def messages(call: wire.Call) -> wire.Reply:
    """The ``POST /v1/messages`` builder: a Message, or the events that stream it."""
    request = read_request(call.body)
    thought = None
    if request.thinking is not None:
        thought = thinking_text(_last_user_text(request.chat["messages"]), request.thinking)
    spent = text.estimate_tokens(thought or "")
    twin = request.chat | {"max_tokens": max(request.max_tokens - spent, 1)}
    reply = wire.chat(wire.Call(call.profile, call.rng, twin, call.ident, call.created))
    answer, hit = _stop_at(reply.answers[0], request.stop_sequences)
    content = content_blocks(answer, thought)
    usage = _input_usage(call, request, reply.body["usage"]["prompt_tokens"])
    usage["output_tokens"] = _output_tokens(content)
    reason = "stop_sequence" if hit else _STOP_REASONS[answer.finish]
    body = message(f"msg_{call.ident}", call.model, content, (reason, hit), usage)
    paced = [wire.Answer(content=thought), answer]  # how long the server takes to answer
    if not call.stream:
        return wire.Reply(body=body, answers=paced)
    return wire.Reply(events=stream_events(body, call.profile.tokens_per_chunk), answers=paced)


def _event(name: str, carries_tokens: bool = False, **data: Any) -> wire.Event:
    return name, {"type": name, **data}, carries_tokens


def _block_events(index: int, block: Block, tokens_per_chunk: int) -> list[wire.Event]:
    """One block's ``content_block_start``, its deltas in pieces, and its ``_stop``."""
    kind = block["type"]
    opened: Block = {"type": "text", "text": ""}
    if kind == "thinking":
        opened = {"type": "thinking", "thinking": "", "signature": ""}
    elif kind == "tool_use":
        opened = {**block, "input": {}}
    delta_kind, key = _DELTAS[kind]
    deltas = [
        _event("content_block_delta", True, index=index, delta={"type": delta_kind, key: piece})
        for piece in text.split_pieces(_said(block), tokens_per_chunk)
    ]
    if kind == "thinking":
        signed = {"type": "signature_delta", "signature": block["signature"]}
        deltas.append(_event("content_block_delta", index=index, delta=signed))
    start = _event("content_block_start", index=index, content_block=opened)
    return [start, *deltas, _event("content_block_stop", index=index)]


def stream_events(body: dict[str, Any], tokens_per_chunk: int) -> list[wire.Event]:
    """The SSE events that stream a finished Message ``body``, in the API's order:
    ``message_start`` (no content, one output token), ``ping`` after the first block opens,
    each block's start, deltas and stop, then ``message_delta`` and ``message_stop``."""
    usage = body["usage"]
    started = {**body, "content": [], "stop_reason": None, "stop_sequence": None}
    started["usage"] = {**usage, "output_tokens": 1}
    events = [_event("message_start", message=started)]
    for index, block in enumerate(body["content"]):
        events += _block_events(index, block, tokens_per_chunk)
    events.insert(2 if body["content"] else 1, _event("ping"))
    stop = {"stop_reason": body["stop_reason"], "stop_sequence": body["stop_sequence"]}
    events.append(
        _event("message_delta", delta=stop, usage={"output_tokens": usage["output_tokens"]})
    )
    return [*events, _event("message_stop")]
