"""Anthropic's Messages API (``/v1/messages``): typed server-sent events from ``message_start``
to ``message_stop``, or one whole Message object.

Both are read into the same content blocks, keyed by their position in the final ``content``
array, and one choice is built from those blocks by one function, so that a streamed answer and
its non-streamed twin cannot record differently. Anthropic's vocabulary is translated to the
record's: ``stop_reason`` to an OpenAI-style ``finish_reason`` (comparators and reports already
know ``stop``, ``length`` and ``tool_calls``), ``thinking`` blocks to ``reasoning``, kept apart
from ``text`` because two answers that reason differently but say the same are the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from proxy.recording.assembly.choice import ChoiceAcc, ToolAcc
from proxy.recording.assembly.common import (
    INVALID,
    as_dict,
    as_int,
    as_list,
    as_str,
    error_of,
    loads,
    output_data,
)
from proxy.recording.encode import ChoiceData, OutputData
from proxy.recording.sse import SseEvent, iter_sse_events

__all__ = ["FINISH_REASONS", "finish_reason", "messages_json", "messages_stream"]

FINISH_REASONS: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "pause_turn": "pause_turn",
    "refusal": "content_filter",
}
"""Anthropic's ``stop_reason`` as the record's ``finish_reason``; any other passes through."""

REFUSAL_WITHOUT_TEXT = "refusal"
"""``Choice.refusal`` of a refusal that said nothing: a refusal must never be invisible."""

# Which block kind a delta belongs to, to salvage a block whose ``content_block_start`` was lost.
_DELTA_KINDS = {"text_delta": "text", "thinking_delta": "thinking", "input_json_delta": "tool_use"}


def finish_reason(stop_reason: str | None) -> str | None:
    """The record's ``finish_reason`` for Anthropic's ``stop_reason``."""
    return None if stop_reason is None else FINISH_REASONS.get(stop_reason, stop_reason)


@dataclass
class _Block:
    """One content block as far as it arrived.

    ``parts`` holds the text of a ``text`` block, the thinking of a ``thinking`` block, or the
    ``partial_json`` fragments of a streamed ``tool_use`` block. Any other kind
    (``redacted_thinking``, ``server_tool_use``, ``web_search_tool_result``, kinds not invented
    yet) is kept only so that it takes its place, and adds nothing to the choice.
    """

    kind: str
    parts: list[str] = field(default_factory=list)
    id: str | None = None
    name: str = ""
    input: Any = None  # a tool_use block's ``input`` object: whole, or ``{}`` when streamed


def _block_of(raw: dict[str, Any]) -> _Block:
    """A block from a whole content block, or from a ``content_block_start``'s initial one."""
    block = _Block(as_str(raw.get("type")) or "")
    if block.kind == "text" and (text := as_str(raw.get("text"))):
        block.parts.append(text)
    elif block.kind == "thinking" and (thinking := as_str(raw.get("thinking"))):
        block.parts.append(thinking)
    elif block.kind == "tool_use":
        block.id = as_str(raw.get("id")) or None
        block.name = as_str(raw.get("name")) or ""
        block.input = raw.get("input")
    return block


def _compact(value: Any) -> str | None:
    """``value`` as compact JSON, or ``None`` when orjson cannot write it (over 254 levels)."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return None


def _arguments(block: _Block) -> str | None:
    """A tool call's arguments as compact JSON, whether streamed or whole; ``None`` if unwritable.

    A whole answer carries ``input`` as an object, a stream as ``partial_json`` fragments
    spaced as the model wrote them (``{"city": "Oslo"}``). Both are written the way orjson
    writes the object, so that the twins record the same string; fragments that are not JSON
    (a stream cut off mid-call) are kept exactly as they arrived, for a person to read.
    """
    fragments = "".join(block.parts)
    if fragments.strip():
        value = loads(fragments)
        if value is INVALID:
            return fragments
        return _compact(value) or fragments
    if block.input is None:  # no input at all: the comparator reads "" as no arguments
        return ""
    # No fragments: a whole answer, or a call without arguments, whose only delta is "".
    return _compact(block.input)


@dataclass
class _Message:
    """What a stream or a whole Message says about its one choice."""

    blocks: dict[int, _Block] = field(default_factory=dict)
    stop_reason: str | None = None
    malformed: bool = False

    def choices(self) -> list[ChoiceData]:
        """The one choice, or none when nothing of the answer arrived.

        A tool input that cannot be written as JSON marks the message malformed, so callers
        read ``malformed`` only after this.
        """
        if not self.blocks and self.stop_reason is None:
            return []
        acc = ChoiceAcc(finish_reason=finish_reason(self.stop_reason))
        for index in sorted(self.blocks):
            block = self.blocks[index]
            if block.kind == "text":
                acc.text.extend(block.parts)
            elif block.kind == "thinking":
                acc.add_reasoning("".join(block.parts))
            elif block.kind == "tool_use":
                arguments = _arguments(block)
                self.malformed = self.malformed or arguments is None
                call = ToolAcc(id=block.id, name=[block.name], final_arguments=arguments or "")
                acc.tools[len(acc.tools)] = call
        if self.stop_reason == "refusal":
            acc.add_refusal("".join(acc.text) or REFUSAL_WITHOUT_TEXT)
        return [acc.choice(0)]


def messages_json(message: dict[str, Any]) -> OutputData:
    """A whole Message object (not an error), kept as the body."""
    parsed = _Message(stop_reason=as_str(message.get("stop_reason")))
    content = message.get("content")
    parsed.malformed = not isinstance(content, list)
    for position, raw in enumerate(as_list(content)):
        if (block := as_dict(raw)) is None:
            parsed.malformed = True
            continue
        parsed.blocks[position] = _block_of(block)
    choices = parsed.choices()
    return output_data(
        message,
        choices=choices,
        usage=as_dict(message.get("usage")),
        model=as_str(message.get("model")) or None,
        partial=parsed.malformed,
    )


class _StreamAcc(_Message):
    """A Messages stream, read event by event."""

    def __init__(self) -> None:
        super().__init__()
        self.usage: dict[str, Any] | None = None
        self.model: str | None = None
        self.error: Any = None
        self.done = False

    def add(self, sse: SseEvent) -> None:
        if sse.data.strip() == "[DONE]":  # not Anthropic's, but OpenAI-minded gateways add it
            return
        event = loads(sse.data)
        if not isinstance(event, dict):
            if sse.event == "error":
                self._add_error(sse.data)
            else:
                self.malformed = True
            return
        kind = as_str(event.get("type")) or sse.event
        error = error_of(event)
        if kind == "error" or error is not None:
            self._add_error(event if error is None else error)
            return
        match kind:
            case "message_start":
                self._start(event)
            case "content_block_start":
                self._start_block(event)
            case "content_block_delta":
                self._add_delta(event)
            case "message_delta":
                self._end(event)
            case "message_stop":
                self.done = True
            # ping, content_block_stop, and event types Anthropic may add: nothing to read

    def output(self) -> OutputData:
        choices = self.choices()
        return output_data(
            None if self.error is None else {"error": self.error},
            choices=choices,
            usage=self.usage,
            model=self.model,
            partial=self.malformed or self.error is not None or not self.done,
        )

    def _add_error(self, error: Any) -> None:
        if self.error is None:  # the first error is the cause; later ones are fallout
            self.error = error

    def _start(self, event: dict[str, Any]) -> None:
        if (message := as_dict(event.get("message"))) is None:
            self.malformed = True
            return
        self.model = self.model or as_str(message.get("model")) or None
        if (usage := as_dict(message.get("usage"))) is not None:
            self._merge_usage(usage)

    def _start_block(self, event: dict[str, Any]) -> None:
        index = as_int(event.get("index"))
        raw = as_dict(event.get("content_block"))
        if index is None or raw is None or index in self.blocks:
            self.malformed = True  # a repeated start must not wipe what its deltas said
            return
        self.blocks[index] = _block_of(raw)

    def _add_delta(self, event: dict[str, Any]) -> None:
        index = as_int(event.get("index"))
        delta = as_dict(event.get("delta"))
        if index is None or delta is None:
            self.malformed = True
            return
        delta_type = as_str(delta.get("type")) or ""
        block = self.blocks.get(index)
        if block is None:
            # Its start was lost: the stream is damaged, but the delta's text is still evidence.
            self.malformed = True
            if (kind := _DELTA_KINDS.get(delta_type)) is None:
                return
            block = self.blocks[index] = _Block(kind)
        fragment: Any = None
        if delta_type == "text_delta" and block.kind == "text":
            fragment = delta.get("text")
        elif delta_type == "thinking_delta" and block.kind == "thinking":
            fragment = delta.get("thinking")
        elif delta_type == "input_json_delta" and block.kind == "tool_use":
            fragment = delta.get("partial_json")
        # signature_delta, citations_delta, a server tool's input: nothing the choice shows
        if (text := as_str(fragment)) is not None:
            block.parts.append(text)

    def _end(self, event: dict[str, Any]) -> None:
        delta = as_dict(event.get("delta")) or {}
        if (stop_reason := as_str(delta.get("stop_reason"))) is not None:
            self.stop_reason = stop_reason
        if (usage := as_dict(event.get("usage"))) is not None:
            self._merge_usage(usage)

    def _merge_usage(self, update: dict[str, Any]) -> None:
        """Fold one usage object into the stream's, key by key; later counts win.

        ``message_start`` reports the input and cache counts, each ``message_delta`` the
        cumulative output count and sometimes the input counts again: counts are totals, not
        increments, so they replace rather than add. A null never erases a count already
        reported (the SDK reads it the same way), but is kept for a key nobody reported.
        """
        usage = self.usage if self.usage is not None else {}
        for key, value in update.items():
            if value is not None or key not in usage:
                usage[key] = value
        self.usage = usage


def messages_stream(body: bytes) -> OutputData:
    """A Messages stream; complete only once ``message_stop`` arrived.

    Nothing after ``message_stop`` is read: it ends the answer, as the SDK reads it.
    """
    acc = _StreamAcc()
    for sse in iter_sse_events(body):
        acc.add(sse)
        if acc.done:
            break
    return acc.output()
