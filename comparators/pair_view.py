"""What a person (or an evaluation set) needs from a pair record: the question asked and what
each side answered, flattened to text.

Chat, completions and Responses bodies keep the prompt in different places, and an answer may
be text, tool calls, a refusal or an error. These helpers give the report's worst-pairs
section and the golden-set export one reading of all of them.
"""

from __future__ import annotations

from typing import Any

from proxy.recording.schema import Side

__all__ = ["last_user_message", "side_output", "side_text"]


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [part.get("text") for part in content if isinstance(part, dict) and "text" in part]
        return "\n".join(p for p in parts if isinstance(p, str))
    return ""


def last_user_message(body: Any) -> str:
    """The last user turn of a chat or Responses request, a completions prompt, or, for a body
    recorded truncated (a string), its first 2,000 characters."""
    if isinstance(body, str):
        return body[:2000]
    if not isinstance(body, dict):
        return ""
    for key in ("messages", "input"):
        items = body.get(key)
        if isinstance(items, str):
            return items
        if isinstance(items, list):
            for item in reversed(items):
                if isinstance(item, dict) and item.get("role", "user") == "user":
                    text = _content_text(item.get("content"))
                    if text:
                        return text
    prompt = body.get("prompt")
    if isinstance(prompt, list):
        return "\n".join(p for p in prompt if isinstance(p, str))
    return prompt if isinstance(prompt, str) else ""


def side_output(side: Side) -> dict[str, Any]:
    """One side's answer as plain data: the JSONL ``reference``/``candidate`` of the export."""
    output = side.output
    tool_calls = [
        {"name": call.name, "arguments": call.arguments}
        for call in (output.tool_calls if output is not None else [])
    ]
    refusal = output.choices[0].refusal if output is not None and output.choices else None
    error = side.error.kind if side.error is not None else None
    if error is None and side.status is not None and side.status >= 400:
        error = f"http_{side.status}"
    return {
        "name": side.name,
        "model": side.model,
        "text": output.text if output is not None else "",
        "tool_calls": tool_calls,
        "refusal": refusal,
        "finish_reason": output.finish_reason if output is not None else None,
        "error": error,
    }


def side_text(side: Side) -> str:
    """One side's answer as a single text to read and diff: the text, then any refusal and
    tool calls as ``name(arguments)``, or ``[error: kind]`` for a failed side."""
    view = side_output(side)
    lines = [view["text"]] if view["text"] else []
    if view["refusal"]:
        lines.append(f"[refusal] {view['refusal']}")
    lines.extend(f"{call['name']}({call['arguments']})" for call in view["tool_calls"])
    if view["error"]:
        lines.append(f"[error: {view['error']}]")
    return "\n".join(lines)
