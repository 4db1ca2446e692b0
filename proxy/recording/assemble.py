"""Turn an upstream's buffered response bytes into an :class:`~proxy.recording.schema.Output`.

Comparators must never see raw bytes: a streamed answer and its non-streamed twin have to look
alike once recorded, or every streamed pair would diff on framing alone. Upstreams also break in
every way a byte stream can break, so assembly never raises. Whatever could not be read makes
the output ``partial`` and keeps what could be salvaged, because a half answer is still evidence
and an exception here would lose the whole pair.

Conventions worth knowing when reading a record:

* ``usage`` is the last non-null usage object an upstream reported, unmodified. Summing would
  double-count on gateways that repeat usage on the final content chunk.
* A stream is complete only when its end marker arrived (``data: [DONE]`` for chat and
  completions, ``response.completed`` for Responses). Nothing after ``[DONE]`` is read, as the
  OpenAI SDK reads nothing after it either.
* A stream that carried an error keeps it as ``body = {"error": <the upstream's error object>}``,
  the same shape as a non-streamed error body, so comparators look in one place.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from proxy.recording.encode import ChoiceData, OutputData, ToolCallData
from proxy.recording.schema import Output
from proxy.recording.sse import iter_sse_events

__all__ = ["TEXT_BODY_CAP", "assemble", "assemble_output"]

logger = logging.getLogger(__name__)

TEXT_BODY_CAP = 64 * 1024
"""Bytes of an unparseable body kept as text: enough to read an error page, not a whole dump."""

_Flavour = Literal["chat", "completions", "responses", "embeddings", "other"]
_INVALID: Any = object()  # what _loads returns for bytes that are not JSON


def assemble(
    route: str,
    content_type: str | None,
    body: bytes,
    *,
    complete: bool = True,
    truncated: bool = False,
) -> OutputData:
    """Assemble what one upstream answered on ``route``, as the record's plain data.

    ``complete=False`` says the byte stream was cut off; ``truncated=True`` says the proxy
    stopped keeping bytes at its cap. Either way the tail is missing, so the output is partial.
    """
    streamed = _is_event_stream(content_type, body)
    flavour = _flavour(route)
    try:
        out = _assemble_stream(flavour, body) if streamed else _assemble_json(flavour, body)
    except Exception:  # the contract is "never raise": a bug here must not lose the pair
        logger.warning(
            "could not assemble a %s response of %d bytes", route, len(body), exc_info=True
        )
        out = _output(_text(body), partial=True)
    out["streamed"] = streamed
    out["truncated"] = truncated
    if truncated or not complete:
        out["partial"] = True
    return out


def assemble_output(
    route: str,
    content_type: str | None,
    body: bytes,
    *,
    complete: bool = True,
    truncated: bool = False,
) -> Output:
    """:func:`assemble`, as the model that readers of a record see."""
    return Output.model_validate(
        assemble(route, content_type, body, complete=complete, truncated=truncated)
    )


def _output(
    body: Any,
    *,
    choices: list[ChoiceData] | None = None,
    usage: dict[str, Any] | None = None,
    model: str | None = None,
    partial: bool = False,
) -> OutputData:
    return {
        "streamed": False,
        "body": body,
        "choices": [] if choices is None else choices,
        "usage": usage,
        "response_model": model,
        "partial": partial,
        "truncated": False,
    }


def _is_event_stream(content_type: str | None, body: bytes) -> bool:
    if content_type is not None:
        return content_type.lstrip().lower().startswith("text/event-stream")
    # No header at all: trust the bytes, since JSON never starts with an SSE field name.
    return body[:32].lstrip().startswith((b"data:", b"event:", b":"))


def _flavour(route: str) -> _Flavour:
    # Matched by suffix so that prefixed mounts (Azure deployments, /openai/v1/...) still work.
    path = route.partition("?")[0].rstrip("/")
    if path.endswith("/chat/completions"):
        return "chat"
    if path.endswith("/completions"):
        return "completions"
    if path.endswith("/responses"):
        return "responses"
    if path.endswith("/embeddings"):
        return "embeddings"
    return "other"


def _text(body: bytes) -> str:
    return body[:TEXT_BODY_CAP].decode("utf-8", "replace")


def _loads(data: bytes | str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return _INVALID


def _dict(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


@dataclass
class _ToolAcc:
    id: str | None = None
    name: list[str] = field(default_factory=list)
    arguments: list[str] = field(default_factory=list)
    final_arguments: str | None = None  # a whole value, used when no fragments arrived

    def tool_call(self) -> ToolCallData:
        args = "".join(self.arguments) if self.arguments else (self.final_arguments or "")
        return {"id": self.id, "name": "".join(self.name), "arguments": args}


@dataclass
class _ChoiceAcc:
    text: list[str] = field(default_factory=list)
    refusal: list[str] | None = None
    finish_reason: str | None = None
    tools: dict[int, _ToolAcc] = field(default_factory=dict)
    # Kept alongside ``tools`` so that index-less fragments cost O(1), even from a hostile upstream.
    tool_ids: set[str] = field(default_factory=set)
    top_tool: int = -1

    def choice(self, index: int) -> ChoiceData:
        return {
            "index": index,
            "text": "".join(self.text),
            "tool_calls": [self.tools[i].tool_call() for i in sorted(self.tools)],
            "finish_reason": self.finish_reason,
            "refusal": None if self.refusal is None else "".join(self.refusal),
        }

    def add_message(self, message: dict[str, Any], *, whole: bool) -> None:
        """Merge a streamed ``delta`` or a whole ``message``; both share one shape."""
        if (content := _str(message.get("content"))) is not None:
            self.text.append(content)
        if (refusal := _str(message.get("refusal"))) is not None:
            self.add_refusal(refusal)
        for position, raw in enumerate(_list(message.get("tool_calls"))):
            if (call := _dict(raw)) is None:
                continue
            index = self._tool_index(call, position, whole=whole)
            self.top_tool = max(self.top_tool, index)
            slot = self.tools.setdefault(index, _ToolAcc())
            if slot.id is None and (call_id := _str(call.get("id"))):
                slot.id = call_id
                self.tool_ids.add(call_id)
            function = _dict(call.get("function")) or {}
            if (name := _str(function.get("name"))) is not None:
                slot.name.append(name)
            if (arguments := _str(function.get("arguments"))) is not None:
                slot.arguments.append(arguments)

    def add_refusal(self, fragment: str) -> None:
        if self.refusal is None:
            self.refusal = []
        self.refusal.append(fragment)

    def _tool_index(self, call: dict[str, Any], position: int, *, whole: bool) -> int:
        if (index := _int(call.get("index"))) is not None:
            return index
        if whole:
            return position
        # Some OpenAI-compatible servers omit the index and send each call whole: a new id
        # means a new call, anything else continues the latest one.
        call_id = _str(call.get("id"))
        if call_id and call_id not in self.tool_ids:
            return self.top_tool + 1
        return max(self.top_tool, 0)


class _ChoicesAcc:
    """Chat and legacy completions, streamed or not: a sequence of chunks with ``choices``."""

    def __init__(self) -> None:
        self.choices: dict[int, _ChoiceAcc] = {}
        self.usage: dict[str, Any] | None = None
        self.model: str | None = None
        self.malformed = False

    def add_chunk(self, chunk: dict[str, Any], *, whole: bool) -> None:
        if self.model is None:  # Azure's first chunk carries model ""
            self.model = _str(chunk.get("model")) or None
        if (usage := _dict(chunk.get("usage"))) is not None:
            self.usage = usage
        raw_choices = chunk.get("choices")
        if not isinstance(raw_choices, list):
            self.malformed = self.malformed or whole or raw_choices is not None
            return
        for position, raw in enumerate(raw_choices):
            choice = _dict(raw)
            index = _int(choice.get("index", position)) if choice is not None else None
            if choice is None or index is None:
                self.malformed = True
                continue
            acc = self.choices.setdefault(index, _ChoiceAcc())
            if (text := _str(choice.get("text"))) is not None:
                acc.text.append(text)
            for key in ("message", "delta"):
                if (message := _dict(choice.get(key))) is not None:
                    acc.add_message(message, whole=whole)
            if (finish := _str(choice.get("finish_reason"))) is not None:
                acc.finish_reason = finish

    def output(self, *, body: Any, partial: bool) -> OutputData:
        return _output(
            body,
            choices=[self.choices[i].choice(i) for i in sorted(self.choices)],
            usage=self.usage,
            model=self.model,
            partial=partial or self.malformed,
        )


def _error_of(payload: Any) -> Any:
    """The error object a chunk carries, or ``None`` for an ordinary chunk."""
    return payload.get("error") if isinstance(payload, dict) else None


def _assemble_stream(flavour: _Flavour, body: bytes) -> OutputData:
    if flavour in ("chat", "completions"):
        return _choices_stream(body)
    if flavour == "responses":
        return _responses_stream(body)
    return _output(_text(body))  # nobody streams embeddings; keep the bytes readable


def _choices_stream(body: bytes) -> OutputData:
    acc = _ChoicesAcc()
    done = False
    error: Any = None
    for event in iter_sse_events(body):
        if event.data.strip() == "[DONE]":
            done = True
            break
        chunk = _loads(event.data)
        chunk_error = _error_of(chunk)
        if event.event == "error" or chunk_error is not None:
            if error is None:  # the first error is the cause; later ones are fallout
                if chunk_error is not None:
                    error = chunk_error
                else:
                    error = event.data if chunk is _INVALID else chunk
        elif isinstance(chunk, dict):
            acc.add_chunk(chunk, whole=False)
        else:
            acc.malformed = True
    return acc.output(
        body=None if error is None else {"error": error},
        partial=not done or error is not None,
    )


def _responses_finish(status: str | None, response: dict[str, Any], has_calls: bool) -> str | None:
    if status == "completed":
        return "tool_calls" if has_calls else "stop"
    if status == "incomplete":
        return _str((_dict(response.get("incomplete_details")) or {}).get("reason"))
    return None


def _responses_output(response: dict[str, Any]) -> _ChoiceAcc:
    """Text, refusal and function calls of a finished Responses object."""
    acc = _ChoiceAcc()
    for raw in _list(response.get("output")):
        item = _dict(raw) or {}
        if item.get("type") == "function_call":
            _add_function_item(acc.tools.setdefault(len(acc.tools), _ToolAcc()), item)
        elif item.get("type") == "message":
            for raw_part in _list(item.get("content")):
                part = _dict(raw_part) or {}
                if part.get("type") == "output_text" and (t := _str(part.get("text"))):
                    acc.text.append(t)
                elif part.get("type") == "refusal" and (r := _str(part.get("refusal"))):
                    acc.add_refusal(r)
    return acc


def _add_function_item(slot: _ToolAcc, item: dict[str, Any]) -> None:
    slot.id = slot.id or _str(item.get("call_id")) or None
    if not slot.name and (name := _str(item.get("name"))):
        slot.name.append(name)
    if (arguments := _str(item.get("arguments"))) is not None:
        slot.final_arguments = arguments


def _responses_object(response: dict[str, Any], *, body: Any) -> OutputData:
    acc = _responses_output(response)
    status = _str(response.get("status"))
    acc.finish_reason = _responses_finish(status, response, bool(acc.tools))
    has_content = acc.text or acc.tools or acc.refusal is not None or acc.finish_reason
    return _output(
        body,
        choices=[acc.choice(0)] if has_content else [],
        usage=_dict(response.get("usage")),
        model=_str(response.get("model")) or None,
        partial=(status is not None and status != "completed") or response.get("error") is not None,
    )


def _responses_stream(body: bytes) -> OutputData:
    acc = _ChoiceAcc()
    text: dict[tuple[int, int], list[str]] = {}
    final: dict[str, Any] | None = None  # the response object of the terminal event
    status: str | None = None
    usage: dict[str, Any] | None = None
    model: str | None = None
    error: Any = None
    malformed = False
    for sse in iter_sse_events(body):
        if sse.data.strip() == "[DONE]":  # not part of the protocol, but some servers add it
            continue
        event = _loads(sse.data)
        if not isinstance(event, dict):
            malformed = True
            if sse.event == "error" and error is None:
                error = sse.data
            continue
        kind = _str(event.get("type")) or sse.event
        index = _int(event.get("output_index")) or 0
        response = _dict(event.get("response"))
        if response is not None:
            model = model or _str(response.get("model")) or None
            usage = _dict(response.get("usage")) or usage
        match kind:
            case "response.output_text.delta":
                part = (index, _int(event.get("content_index")) or 0)
                text.setdefault(part, []).append(_str(event.get("delta")) or "")
            case "response.refusal.delta":
                acc.add_refusal(_str(event.get("delta")) or "")
            case "response.function_call_arguments.delta":
                slot = acc.tools.setdefault(index, _ToolAcc())
                slot.arguments.append(_str(event.get("delta")) or "")
            case "response.output_item.added" | "response.output_item.done":
                item = _dict(event.get("item")) or {}
                if item.get("type") == "function_call":
                    _add_function_item(acc.tools.setdefault(index, _ToolAcc()), item)
            case "response.completed" | "response.incomplete" | "response.failed":
                final = response or {}
                status = kind.removeprefix("response.")
                if kind == "response.failed" and error is None:
                    error = final.get("error") or final
            case "error":
                error = error or event
    if final is not None and not text and not acc.tools and acc.refusal is None:
        # Some servers only send the terminal event; its response object holds the answer.
        acc = _responses_output(final)
    acc.text = [t for part in sorted(text) for t in text[part]] or acc.text
    acc.finish_reason = _responses_finish(status, final or {}, bool(acc.tools))
    has_content = acc.text or acc.tools or acc.refusal is not None or acc.finish_reason
    return _output(
        None if error is None else {"error": error},
        choices=[acc.choice(0)] if has_content else [],
        usage=usage,
        model=model,
        partial=malformed or error is not None or status != "completed",
    )


def _assemble_json(flavour: _Flavour, body: bytes) -> OutputData:
    parsed = _loads(body)
    if parsed is _INVALID:
        return _output(_text(body), partial=True)
    if flavour == "other" or _error_of(parsed) is not None:
        return _output(parsed)
    if not isinstance(parsed, dict):
        return _output(parsed, partial=True)
    if flavour == "embeddings":
        return _output(
            parsed, usage=_dict(parsed.get("usage")), model=_str(parsed.get("model")) or None
        )
    if flavour == "responses":
        return _responses_object(parsed, body=parsed)
    if flavour == "chat" and (choices := _whole_chat_choices(parsed)) is not None:
        return _output(
            parsed,
            choices=choices,
            usage=_dict(parsed.get("usage")),
            model=_str(parsed.get("model")) or None,
        )
    acc = _ChoicesAcc()
    acc.add_chunk(parsed, whole=True)
    return acc.output(body=parsed, partial=False)


def _whole_chat_choices(answer: dict[str, Any]) -> list[ChoiceData] | None:
    """The choices of a complete chat answer in the usual shape, or ``None`` for any other.

    Most answers are one such body, and reading it directly costs a fraction of running it
    through the accumulators, which exist to merge fragments that a whole answer does not
    have. Whatever is unusual (an index out of place, a ``delta``, a ``text``, a choice or
    tool call that is not an object) is left to them, so the two agree on every body.
    """
    raw_choices = answer.get("choices")
    if type(raw_choices) is not list:
        return None
    choices: list[ChoiceData] = []
    for position, choice in enumerate(raw_choices):
        if type(choice) is not dict or "delta" in choice or "text" in choice:
            return None
        index = choice.get("index", position)
        if type(index) is not int or index != position:
            return None
        message = choice.get("message")
        if message is None:
            message = {}
        elif type(message) is not dict:
            return None
        raw_calls = message.get("tool_calls")
        calls = _whole_tool_calls(raw_calls) if type(raw_calls) is list else []
        if calls is None:
            return None
        text = message.get("content")
        refusal = message.get("refusal")
        finish = choice.get("finish_reason")
        choices.append(
            {
                "index": index,
                "text": text if type(text) is str else "",
                "tool_calls": calls,
                "finish_reason": finish if type(finish) is str else None,
                "refusal": refusal if type(refusal) is str else None,
            }
        )
    return choices


def _whole_tool_calls(raw_calls: list[Any]) -> list[ToolCallData] | None:
    calls: list[ToolCallData] = []
    for position, call in enumerate(raw_calls):
        if type(call) is not dict:
            return None
        index = call.get("index")
        if type(index) is int and index != position:
            return None
        call_id = call.get("id")
        function = call.get("function")
        if type(function) is not dict:
            function = {}
        name = function.get("name")
        arguments = function.get("arguments")
        calls.append(
            {
                "id": call_id if type(call_id) is str and call_id else None,
                "name": name if type(name) is str else "",
                "arguments": arguments if type(arguments) is str else "",
            }
        )
    return calls
