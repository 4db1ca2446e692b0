"""How the simulated model's answers are spelled in the OpenAI wire format.

Each endpoint turns a parsed request into a ``Reply``: either one JSON body or the exact list of
server-sent events a real server would stream. Keeping this free of sockets and faults lets the
server module decide *how* to deliver (pacing, cutting, padding) while this module decides
*what* is delivered, byte for byte as the ``openai`` SDK expects to parse it.

Usage is estimated, not measured: every text counts ``ceil(len / 4)`` tokens, each input message
adds 3, and ``cached_tokens`` follows ``simulate_text.cached_tokens``. A non-streamed answer
reports exactly the tokens its stream would have carried.
"""

from __future__ import annotations

import base64
import itertools
import json
import math
import random
import struct
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from proxy.sim import judge, text
from proxy.sim.answers import Item, ToolUse, refusals
from proxy.sim.profile import SimProfile

__all__ = [
    "DONE",
    "BadRequest",
    "Call",
    "Event",
    "Reply",
    "chat",
    "completions",
    "embeddings",
    "models",
    "responses",
    "sse",
]

# (SSE event name or None, data object or literal string, whether it carries generated tokens)
Event = tuple[str | None, Any, bool]
DONE: Event = (None, "[DONE]", False)
_MAX = 10**6
_EMBEDDING_DIMENSIONS = 16


class BadRequest(Exception):
    """A request the real API would reject with 400; ``param`` names the offending field."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass
class Call:
    """One request as the wire builders see it: the profile snapshot, the body and the RNG."""

    profile: SimProfile
    rng: random.Random
    body: dict[str, Any]
    ident: str = field(default_factory=lambda: uuid.uuid4().hex[:24])
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def model(self) -> str:
        return str(self.body.get("model") or self.profile.model)

    @property
    def stream(self) -> bool:
        return self.body.get("stream") is True

    @property
    def include_usage(self) -> bool:
        options = self.body.get("stream_options")
        return isinstance(options, dict) and options.get("include_usage") is True

    @property
    def fingerprint(self) -> str:
        return "fp_" + text.stable_hex(self.profile.name, self.profile.model, size=5)


@dataclass
class Answer:
    """What the model says in one choice, before any wire format."""

    content: str | None = None
    refusal: str | None = None
    tool_calls: list[tuple[str, str, str]] = field(default_factory=list)  # id, name, arguments
    finish: str = "stop"

    def parts(self) -> list[str]:
        return [s for s in (self.content, self.refusal) if s] + [c[2] for c in self.tool_calls]

    @property
    def tokens(self) -> int:
        return sum(text.estimate_tokens(s) for s in self.parts())


@dataclass
class Reply:
    """A JSON ``body`` to send whole, or ``events`` to stream; ``answers`` set the pacing."""

    body: Any = None
    events: list[Event] | None = None
    answers: list[Answer] = field(default_factory=list)


def sse(event: Event) -> bytes:
    name, data, _ = event
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return (f"event: {name}\n" if name else "").encode() + f"data: {payload}\n\n".encode()


def _int(body: dict[str, Any], name: str, default: int | None, low: int, high: int) -> int | None:
    value = body.get(name, default)
    if value is None or (type(value) is int and low <= value <= high):
        return value
    raise BadRequest(f"'{name}' must be an integer from {low} to {high}, got {value!r}", name)


def _format(spec: Any) -> tuple[str, Any]:
    """Chat ``response_format`` or Responses ``text.format`` as (kind, JSON schema)."""
    if not isinstance(spec, dict):
        return "text", None
    nested = spec.get("json_schema")
    schema = (nested if isinstance(nested, dict) else spec).get("schema")
    return str(spec.get("type") or "text"), schema or {}


def _messages(items: Any, param: str) -> tuple[str, int, bool]:
    """The prompt (the last user turn), the whole input's tokens, and whether it ends on a
    tool result, in which case the model answers in words instead of calling again: without
    that, an agent loop driven by the simulator would never end."""
    if not isinstance(items, list) or not items or not all(isinstance(m, dict) for m in items):
        raise BadRequest(f"'{param}' must be a non-empty array of objects", param)
    texts = [text.message_text(m.get("content", m.get("output"))) for m in items]
    roles = [
        m.get("role") or ("user" if m.get("type", "message") == "message" else "") for m in items
    ]
    users = [t for role, t in zip(roles, texts, strict=True) if role == "user"]
    tokens = sum(map(text.estimate_tokens, texts)) + 3 * len(items)
    last = items[-1]
    after_tool = last.get("role") == "tool" or last.get("type") == "function_call_output"
    return (users or texts)[-1], tokens, after_tool


def _tools(specs: Any, after_tool: bool, nested: bool) -> dict[str, Any]:
    """Offered functions by name with their parameter schemas (chat nests them in "function")."""
    found: dict[str, Any] = {}
    for spec in specs if isinstance(specs, list) and not after_tool else []:
        fn = spec.get("function") if nested and isinstance(spec, dict) else spec
        if (
            isinstance(fn, dict)
            and spec.get("type") == "function"
            and isinstance(fn.get("name"), str)
        ):
            found[fn["name"]] = fn.get("parameters") or {}
    return found


def _answers(
    call: Call, prompt: str, tools: dict[str, Any], fmt: tuple[str, Any], limit: int | None, n: int
) -> list[Answer]:
    """Refuse, call tools or write text, as the profile's rates and the request decide: from
    the content bank when the prompt is one of its questions, else from the phrase banks."""
    p, body = call.profile, call.body
    if p.judge_accuracy is not None:  # a judge: a verdict on the prompt's two answers
        said = judge.judge_reply(prompt, p.judge_accuracy, p.judge_position_bias, call.rng)
        return [Answer(content=said)] * n
    item = text.bank_item(prompt)
    refused = item is not None and item.kind == "refusable"
    if refused or text.stable_fraction(p.name, prompt, "refuse") < p.refusal_rate:
        said = text.refusal(prompt) if item is None else refusals.refusal(call.rng)
        return [Answer(refusal=said) if fmt[0] == "json_schema" else Answer(content=said)] * n
    if item is not None and _fits(item, tools, body.get("tool_choice", "auto")):
        return [_bank_answer(call, item, fmt, limit) for _ in range(n)]
    parallel = body.get("parallel_tool_calls") is not False
    names = text.pick_tools(list(tools), prompt, body.get("tool_choice", "auto"), parallel)
    if names:
        calls = []
        for name in names:
            args = text.fill_schema(tools[name], f"{prompt}:{name}", prompt)
            arguments = json.dumps(args if isinstance(args, dict) else {}, separators=(",", ":"))
            calls.append((f"call_{text.stable_hex(prompt, name)}", name, arguments))
        return [Answer(tool_calls=calls, finish="tool_calls")] * n
    divergent = text.stable_fraction(p.name, prompt, "diverge") < p.divergence_rate
    words = max(1, round(p.output_tokens_mean * 0.75))
    answers = []
    for _ in range(n):
        said = text.compose(
            prompt, words=words, divergent=divergent, nondeterminism=p.nondeterminism, rng=call.rng
        )
        if fmt[0] == "json_object":
            said = json.dumps(text.json_answer(prompt, said))
        elif fmt[0] == "json_schema":
            said = json.dumps(text.fill_schema(fmt[1], prompt, said))
        said, cut = text.truncate_to_tokens(said, limit) if limit else (said, False)
        answers.append(Answer(content=said, finish="length" if cut else "stop"))
    return answers


def _fits(item: Item, tools: dict[str, Any], tool_choice: Any) -> bool:
    """Whether the bank can answer: a tool-call question only when its tool is offered and
    ``tool_choice`` lets the model call it (else it answers in words, as a model would)."""
    if not isinstance(item.answer, ToolUse):
        return True
    name = item.answer.name
    return name in text.pick_tools(list(tools), name, tool_choice, parallel=True)


def _bank_answer(call: Call, item: Item, fmt: tuple[str, Any], limit: int | None) -> Answer:
    """One choice: the profile's content for ``item`` in one of its styles, worded afresh."""
    written = text.bank_answer(item, call.profile, fmt, call.rng)
    if written.tool_calls:
        calls = [(f"call_{call.rng.getrandbits(96):024x}", n, a) for n, a in written.tool_calls]
        return Answer(tool_calls=calls, finish="tool_calls")
    said, cut = text.truncate_to_tokens(written.text, limit) if limit else (written.text, False)
    return Answer(content=said, finish="length" if cut else "stop")


def _interleave(per_choice: list[list[Event]]) -> list[Event]:
    return [e for events in itertools.zip_longest(*per_choice) for e in events if e is not None]


def _usage(prompt_tokens: int, answers: list[Answer], details: bool = True) -> dict[str, Any]:
    completion = sum(a.tokens for a in answers)
    usage: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": prompt_tokens + completion,
    }
    if details:
        usage["prompt_tokens_details"] = {"cached_tokens": text.cached_tokens(prompt_tokens)}
        usage["completion_tokens_details"] = {"reasoning_tokens": 0}
    return usage


def chat(call: Call) -> Reply:
    body = call.body
    prompt, prompt_tokens, after_tool = _messages(body.get("messages"), "messages")
    tools = _tools(body.get("tools"), after_tool, nested=True)
    limit = _int(body, "max_completion_tokens", _int(body, "max_tokens", None, 1, _MAX), 1, _MAX)
    n = _int(body, "n", 1, 1, 16) or 1
    answers = _answers(call, prompt, tools, _format(body.get("response_format")), limit, n)
    usage = _usage(prompt_tokens, answers)
    base = {"id": f"chatcmpl-{call.ident}", "object": "chat.completion", "created": call.created}
    base |= {"model": call.model, "system_fingerprint": call.fingerprint}
    if not call.stream:
        choices = [
            {"index": i, "message": _message(a), "logprobs": None, "finish_reason": a.finish}
            for i, a in enumerate(answers)
        ]
        return Reply(body={**base, "choices": choices, "usage": usage}, answers=answers)
    base |= {"object": "chat.completion.chunk"} | ({"usage": None} if call.include_usage else {})

    def chunk(i: int, delta: dict[str, Any], finish: str | None = None) -> Event:
        choice = {"index": i, "delta": delta, "logprobs": None, "finish_reason": finish}
        return None, {**base, "choices": [choice]}, finish is None and "role" not in delta

    per_choice = []
    for i, a in enumerate(answers):
        tpc = call.profile.tokens_per_chunk
        first = {"role": "assistant", "content": None if a.content is None else "", "refusal": None}
        events = [chunk(i, first)]
        for key in ("content", "refusal"):
            events += [chunk(i, {key: s}) for s in text.split_pieces(getattr(a, key) or "", tpc)]
        for k, (call_id, name, arguments) in enumerate(a.tool_calls):
            fn = {"name": name, "arguments": ""}
            head = {"index": k, "id": call_id, "type": "function", "function": fn}
            events.append(chunk(i, {"tool_calls": [head]}))
            events += [
                chunk(i, {"tool_calls": [{"index": k, "function": {"arguments": s}}]})
                for s in text.split_pieces(arguments, tpc)
            ]
        per_choice.append([*events, chunk(i, {}, a.finish)])
    events = _interleave(per_choice)
    if call.include_usage:
        events.append((None, {**base, "choices": [], "usage": usage}, False))
    return Reply(events=[*events, DONE], answers=answers)


def _message(a: Answer) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": a.content, "refusal": a.refusal}
    if a.tool_calls:
        message["tool_calls"] = [
            {"id": i, "type": "function", "function": {"name": n, "arguments": args}}
            for i, n, args in a.tool_calls
        ]
    return message


def completions(call: Call) -> Reply:
    raw = call.body.get("prompt")
    prompts = [raw] if isinstance(raw, str) else raw
    if not isinstance(prompts, list) or not prompts or not all(isinstance(s, str) for s in prompts):
        raise BadRequest("'prompt' must be a string or a non-empty array of strings", "prompt")
    limit = _int(call.body, "max_tokens", 16, 1, _MAX)
    n = _int(call.body, "n", 1, 1, 16) or 1
    answers = [a for s in prompts for a in _answers(call, s, {}, ("text", None), limit, n)]
    usage = _usage(sum(map(text.estimate_tokens, prompts)), answers, details=False)
    base = {"id": f"cmpl-{call.ident}", "object": "text_completion", "created": call.created}
    base |= {"model": call.model, "system_fingerprint": call.fingerprint}

    def choice(i: int, said: str, finish: str | None = None) -> dict[str, Any]:
        return {"text": said, "index": i, "logprobs": None, "finish_reason": finish}

    if not call.stream:
        choices = [choice(i, a.content or "", a.finish) for i, a in enumerate(answers)]
        return Reply(body={**base, "choices": choices, "usage": usage}, answers=answers)
    per_choice = []
    for i, a in enumerate(answers):
        pieces = text.split_pieces(a.content or "", call.profile.tokens_per_chunk)
        events: list[Event] = [(None, {**base, "choices": [choice(i, s)]}, True) for s in pieces]
        per_choice.append([*events, (None, {**base, "choices": [choice(i, "", a.finish)]}, False)])
    events = _interleave(per_choice)
    if call.include_usage:
        events.append((None, {**base, "choices": [], "usage": usage}, False))
    return Reply(events=[*events, DONE], answers=answers)


def _response(call: Call, status: str, output: list[Any], usage: Any) -> dict[str, Any]:
    b = call.body
    spec = b.get("text")
    return {
        "id": f"resp_{call.ident}", "object": "response", "created_at": call.created,
        "status": status, "background": False, "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "instructions": b.get("instructions"), "max_output_tokens": b.get("max_output_tokens"),
        "model": call.model, "output": output,
        "parallel_tool_calls": b.get("parallel_tool_calls", True),
        "previous_response_id": b.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None}, "store": b.get("store", True),
        "temperature": b.get("temperature", 1.0),
        "text": spec if isinstance(spec, dict) else {"format": {"type": "text"}},
        "tool_choice": b.get("tool_choice", "auto"), "tools": b.get("tools") or [],
        "top_p": b.get("top_p", 1.0), "truncation": "disabled", "usage": usage, "user": None,
        "metadata": b.get("metadata") or {},
    }  # fmt: skip


def responses(call: Call) -> Reply:
    b = call.body
    raw = b.get("input")
    items = [{"role": "user", "content": raw}] if isinstance(raw, str) else raw
    prompt, input_tokens, after_tool = _messages(items, "input")
    instructions = b.get("instructions")
    input_tokens += text.estimate_tokens(instructions) if isinstance(instructions, str) else 0
    tools = _tools(b.get("tools"), after_tool, nested=False)
    spec = b.get("text")
    fmt = _format(spec.get("format") if isinstance(spec, dict) else None)
    [answer] = _answers(call, prompt, tools, fmt, _int(b, "max_output_tokens", None, 1, _MAX), 1)
    status = "incomplete" if answer.finish == "length" else "completed"
    output: list[dict[str, Any]] = []
    part: dict[str, Any] = {"type": "output_text", "text": answer.content}
    if answer.refusal is not None:
        part = {"type": "refusal", "refusal": answer.refusal}
    else:
        part |= {"annotations": [], "logprobs": []}
    if answer.content is not None or answer.refusal is not None:
        item = {"id": f"msg_{call.ident}", "type": "message", "status": status}
        output.append({**item, "role": "assistant", "content": [part]})
    for k, (call_id, name, arguments) in enumerate(answer.tool_calls):
        item = {"id": f"fc_{call.ident}{k}", "type": "function_call", "status": "completed"}
        output.append({**item, "call_id": call_id, "name": name, "arguments": arguments})
    usage = {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": text.cached_tokens(input_tokens)},
        "output_tokens": answer.tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + answer.tokens,
    }
    final = _response(call, status, output, usage)
    if not call.stream:
        return Reply(body=final, answers=[answer])
    start = _response(call, "in_progress", [], None)
    events: list[Event] = [("response.created", {"response": start}, False)]
    events.append(("response.in_progress", {"response": start}, False))
    for index, item in enumerate(output):
        events += _item_events(item, index, call.profile.tokens_per_chunk)
    events.append((f"response.{status}", {"response": final}, False))
    for number, (kind, data, _) in enumerate(events):
        data.update(type=kind, sequence_number=number)
    return Reply(events=events, answers=[answer])


def _item_events(item: dict[str, Any], index: int, tpc: int) -> list[Event]:
    """The typed events that build one output item, in the order the Responses API sends them."""
    where: dict[str, Any] = {"item_id": item["id"], "output_index": index}
    opened: dict[str, Any] = {**item, "status": "in_progress"}
    added: Event = ("response.output_item.added", {"output_index": index, "item": opened}, False)
    done: Event = ("response.output_item.done", {"output_index": index, "item": item}, False)
    if item["type"] == "function_call":
        opened["arguments"] = ""
        args = item["arguments"]
        deltas: list[Event] = [
            ("response.function_call_arguments.delta", {**where, "delta": s}, True)
            for s in text.split_pieces(args, tpc)
        ]
        closing = {**where, "name": item["name"], "arguments": args}
        return [added, *deltas, ("response.function_call_arguments.done", closing, False), done]
    opened["content"] = []
    part = item["content"][0]
    kind = part["type"]  # "output_text" or "refusal"
    key = "text" if kind == "output_text" else "refusal"
    extra: dict[str, Any] = {"logprobs": []} if kind == "output_text" else {}
    at = {**where, "content_index": 0}
    deltas = [
        (f"response.{kind}.delta", {**at, "delta": s, **extra}, True)
        for s in text.split_pieces(part[key], tpc)
    ]
    return [
        added,
        ("response.content_part.added", {**at, "part": {**part, key: ""}}, False),
        *deltas,
        (f"response.{kind}.done", {**at, key: part[key], **extra}, False),
        ("response.content_part.done", {**at, "part": part}, False),
        done,
    ]


def embeddings(call: Call) -> Reply:
    """Unit vectors fixed by the input text, as floats or as base64 little-endian float32."""
    raw = call.body.get("input")
    inputs = [raw] if isinstance(raw, str) else raw
    if not isinstance(inputs, list) or not inputs:
        raise BadRequest("'input' must be a string or a non-empty array", "input")
    size = _int(call.body, "dimensions", _EMBEDDING_DIMENSIONS, 1, 4096) or _EMBEDDING_DIMENSIONS
    data = []
    for index, item in enumerate(inputs):
        rng = random.Random(text.stable_hex(item))
        vector = [rng.gauss(0.0, 1.0) for _ in range(size)]
        norm = math.sqrt(sum(x * x for x in vector)) or 1.0
        vector = [x / norm for x in vector]
        value: Any = vector
        if call.body.get("encoding_format") == "base64":
            value = base64.b64encode(struct.pack(f"<{size}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": value})
    tokens = sum(text.estimate_tokens(str(item)) for item in inputs)
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return Reply(body={"object": "list", "data": data, "model": call.model, "usage": usage})


def models(call: Call) -> Reply:
    model = {"id": call.profile.model, "object": "model", "created": 1700000000, "owned_by": "sim"}
    return Reply(body={"object": "list", "data": [model]})
