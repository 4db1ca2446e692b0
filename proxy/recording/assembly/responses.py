"""The Responses API: typed server-sent events ending in ``response.completed`` (or
``.incomplete`` / ``.failed``), or one whole response object."""

from __future__ import annotations

from typing import Any

from proxy.recording.assembly.choice import ChoiceAcc, ToolAcc
from proxy.recording.assembly.common import as_dict, as_int, as_list, as_str, loads, output_data
from proxy.recording.encode import OutputData
from proxy.recording.sse import iter_sse_events

__all__ = ["responses_json", "responses_stream"]


def responses_json(response: dict[str, Any]) -> OutputData:
    """A whole response object (not an error), kept as the body."""
    acc = _responses_output(response)
    status = as_str(response.get("status"))
    acc.finish_reason = _responses_finish(status, response, bool(acc.tools))
    has_content = acc.text or acc.tools or acc.refusal is not None or acc.finish_reason
    return output_data(
        response,
        choices=[acc.choice(0)] if has_content else [],
        usage=as_dict(response.get("usage")),
        model=as_str(response.get("model")) or None,
        partial=(status is not None and status != "completed") or response.get("error") is not None,
    )


def responses_stream(body: bytes) -> OutputData:
    """A Responses stream; complete only once ``response.completed`` arrived."""
    acc = ChoiceAcc()
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
        event = loads(sse.data)
        if not isinstance(event, dict):
            malformed = True
            if sse.event == "error" and error is None:
                error = sse.data
            continue
        kind = as_str(event.get("type")) or sse.event
        index = as_int(event.get("output_index")) or 0
        response = as_dict(event.get("response"))
        if response is not None:
            model = model or as_str(response.get("model")) or None
            usage = as_dict(response.get("usage")) or usage
        match kind:
            case "response.output_text.delta":
                part = (index, as_int(event.get("content_index")) or 0)
                text.setdefault(part, []).append(as_str(event.get("delta")) or "")
            case "response.refusal.delta":
                acc.add_refusal(as_str(event.get("delta")) or "")
            case "response.function_call_arguments.delta":
                slot = acc.tools.setdefault(index, ToolAcc())
                slot.arguments.append(as_str(event.get("delta")) or "")
            case "response.output_item.added" | "response.output_item.done":
                item = as_dict(event.get("item")) or {}
                if item.get("type") == "function_call":
                    _add_function_item(acc.tools.setdefault(index, ToolAcc()), item)
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
    return output_data(
        None if error is None else {"error": error},
        choices=[acc.choice(0)] if has_content else [],
        usage=usage,
        model=model,
        partial=malformed or error is not None or status != "completed",
    )


def _responses_finish(status: str | None, response: dict[str, Any], has_calls: bool) -> str | None:
    if status == "completed":
        return "tool_calls" if has_calls else "stop"
    if status == "incomplete":
        return as_str((as_dict(response.get("incomplete_details")) or {}).get("reason"))
    return None


def _responses_output(response: dict[str, Any]) -> ChoiceAcc:
    """Text, refusal and function calls of a finished Responses object."""
    acc = ChoiceAcc()
    for raw in as_list(response.get("output")):
        item = as_dict(raw) or {}
        if item.get("type") == "function_call":
            _add_function_item(acc.tools.setdefault(len(acc.tools), ToolAcc()), item)
        elif item.get("type") == "message":
            for raw_part in as_list(item.get("content")):
                part = as_dict(raw_part) or {}
                if part.get("type") == "output_text" and (t := as_str(part.get("text"))):
                    acc.text.append(t)
                elif part.get("type") == "refusal" and (r := as_str(part.get("refusal"))):
                    acc.add_refusal(r)
    return acc


def _add_function_item(slot: ToolAcc, item: dict[str, Any]) -> None:
    slot.id = slot.id or as_str(item.get("call_id")) or None
    if not slot.name and (name := as_str(item.get("name"))):
        slot.name.append(name)
    if (arguments := as_str(item.get("arguments"))) is not None:
        slot.final_arguments = arguments
