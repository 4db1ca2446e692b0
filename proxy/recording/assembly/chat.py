"""Chat Completions and legacy Completions: a sequence of chunks with ``choices``, streamed as
server-sent events ending in ``data: [DONE]``, or one whole answer."""

from __future__ import annotations

from typing import Any

from proxy.recording.assembly.choice import ChoiceAcc
from proxy.recording.assembly.common import (
    INVALID,
    as_dict,
    as_int,
    as_str,
    error_of,
    loads,
    output_data,
)
from proxy.recording.encode import ChoiceData, OutputData, ToolCallData
from proxy.recording.sse import iter_sse_events

__all__ = ["chat_json", "choices_stream", "completions_json"]


class _ChoicesAcc:
    """Chat and legacy completions, streamed or not: a sequence of chunks with ``choices``."""

    def __init__(self) -> None:
        self.choices: dict[int, ChoiceAcc] = {}
        self.usage: dict[str, Any] | None = None
        self.model: str | None = None
        self.malformed = False

    def add_chunk(self, chunk: dict[str, Any], *, whole: bool) -> None:
        if self.model is None:  # Azure's first chunk carries model ""
            self.model = as_str(chunk.get("model")) or None
        if (usage := as_dict(chunk.get("usage"))) is not None:
            self.usage = usage
        raw_choices = chunk.get("choices")
        if not isinstance(raw_choices, list):
            self.malformed = self.malformed or whole or raw_choices is not None
            return
        for position, raw in enumerate(raw_choices):
            choice = as_dict(raw)
            index = as_int(choice.get("index", position)) if choice is not None else None
            if choice is None or index is None:
                self.malformed = True
                continue
            acc = self.choices.setdefault(index, ChoiceAcc())
            if (text := as_str(choice.get("text"))) is not None:
                acc.text.append(text)
            for key in ("message", "delta"):
                if (message := as_dict(choice.get(key))) is not None:
                    acc.add_message(message, whole=whole)
            if (finish := as_str(choice.get("finish_reason"))) is not None:
                acc.finish_reason = finish

    def output(self, *, body: Any, partial: bool) -> OutputData:
        return output_data(
            body,
            choices=[self.choices[i].choice(i) for i in sorted(self.choices)],
            usage=self.usage,
            model=self.model,
            partial=partial or self.malformed,
        )


def choices_stream(body: bytes) -> OutputData:
    """A chat or completions stream; complete only once ``data: [DONE]`` arrived."""
    acc = _ChoicesAcc()
    done = False
    error: Any = None
    for event in iter_sse_events(body):
        if event.data.strip() == "[DONE]":
            done = True
            break
        chunk = loads(event.data)
        chunk_error = error_of(chunk)
        if event.event == "error" or chunk_error is not None:
            if error is None:  # the first error is the cause; later ones are fallout
                if chunk_error is not None:
                    error = chunk_error
                else:
                    error = event.data if chunk is INVALID else chunk
        elif isinstance(chunk, dict):
            acc.add_chunk(chunk, whole=False)
        else:
            acc.malformed = True
    return acc.output(
        body=None if error is None else {"error": error},
        partial=not done or error is not None,
    )


def chat_json(answer: dict[str, Any]) -> OutputData:
    """A whole chat answer (not an error): the usual shape read directly, any other merged."""
    if (choices := _whole_chat_choices(answer)) is not None:
        return output_data(
            answer,
            choices=choices,
            usage=as_dict(answer.get("usage")),
            model=as_str(answer.get("model")) or None,
        )
    return completions_json(answer)


def completions_json(answer: dict[str, Any]) -> OutputData:
    """A whole completions answer (not an error), or a chat answer in an unusual shape."""
    acc = _ChoicesAcc()
    acc.add_chunk(answer, whole=True)
    return acc.output(body=answer, partial=False)


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
                "reasoning": None,
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
