"""The judge's prompt: a template with ``{request}``, ``{answer_a}``, ``{answer_b}``,
``{rubric}`` and ``{reference}``, filled for one order of one (pair, mirror).

The placeholders are replaced as plain text, one pass, never with ``str.format``: requests and
answers are full of braces (JSON, code), and an answer that contains ``{answer_b}`` must not
pull the other answer into its own place. Each filled part is capped at ``max_chars``, and a
cut says so, so the judge never takes a truncated answer for a complete one.

The prompt's *version* is a hash of the template and the rubric: a judgement is cached under
it, so editing either makes every pair be judged afresh.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proxy.recording.schema import Expected, Output, PairRecord, Side
from proxy.shipped.files import read_shipped

__all__ = [
    "PLACEHOLDERS",
    "JudgePrompt",
    "PromptError",
    "render_answer",
    "render_reference",
    "render_request",
]

PLACEHOLDERS = ("request", "answer_a", "answer_b", "rubric", "reference")
_SLOT = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")


class PromptError(ValueError):
    """A template that cannot be used; ``str()`` names the file and what is missing."""


def _cap(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    cut = len(text) - max_chars
    return f"{text[:max_chars]}\n[... {cut} more characters cut by darklaunch ...]"


def _content(content: Any) -> str:
    """A message's content as text: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") for p in content if isinstance(p, dict)]
        return "\n".join(p for p in parts if isinstance(p, str))
    return "" if content is None else json.dumps(content, ensure_ascii=False)


def _tool_name(tool: Any) -> str:
    """An OpenAI tool's ``function.name``, or an Anthropic tool's ``name``."""
    if not isinstance(tool, dict):
        return "?"
    function = tool.get("function")
    name = function.get("name") if isinstance(function, dict) else tool.get("name")
    return name if isinstance(name, str) else "?"


def render_request(record: PairRecord) -> str:
    """The client's request as the judge reads it: each message as ``role: content``, then
    the tools offered and the response format asked for, when there are any."""
    body = record.request.body
    if not isinstance(body, dict):
        return str(body) if body is not None else "(the request body was not recorded)"
    lines: list[str] = []
    system = body.get("system")  # Anthropic Messages keep the system prompt beside the turns
    if isinstance(system, str | list) and (text := _content(system)):
        lines.append(f"system: {text}")
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict):
                lines.append(f"{message.get('role', 'user')}: {_content(message.get('content'))}")
    elif isinstance(body.get("prompt"), str):
        lines.append(f"user: {body['prompt']}")
    elif isinstance(body.get("input"), str | list):
        lines.append(f"user: {_content(body['input'])}")
    tools = body.get("tools")
    if isinstance(tools, list) and tools:
        names = [_tool_name(t) for t in tools]
        lines.append(f"(tools offered: {', '.join(str(n) for n in names)})")
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type"):
        lines.append(f"(response format asked for: {response_format['type']})")
    return "\n".join(lines) if lines else json.dumps(body, ensure_ascii=False)[:2000]


def render_answer(side: Side) -> str:
    """One side's answer: its text, its tool calls with their arguments, its refusal."""
    output: Output | None = side.output
    if output is None or not output.choices:
        return "(no answer)"
    choice = output.choices[0]
    parts = [choice.text] if choice.text else []
    if choice.refusal:
        parts.append(f"(refusal: {choice.refusal})")
    for call in choice.tool_calls:
        parts.append(f"(calls tool {call.name} with arguments {call.arguments})")
    if output.partial:
        parts.append("(this answer was cut off before its end)")
    return "\n".join(parts) if parts else "(an empty answer)"


def render_reference(expected: Expected | None) -> str | None:
    """The pair's reference answer (a replayed golden item's ``expected``) as the judge reads
    it, or ``None`` when there is none: then the judge compares the two answers with each
    other; with one, it judges each against it (the shipped prompt says so)."""
    if expected is None:
        return None
    parts = [expected.text] if expected.text else []
    for call in expected.tool_calls or []:
        parts.append(f"(calls tool {call.name} with arguments {call.arguments})")
    if expected.value is not None:
        parts.append(json.dumps(expected.value, ensure_ascii=False, sort_keys=True))
    return "\n".join(parts) or None


@dataclass(frozen=True)
class JudgePrompt:
    """A loaded template with its rubric and version."""

    template: str
    rubric: str
    max_chars: int
    source: str = "the shipped judge-prompt.txt"

    @classmethod
    def load(cls, path: Path | None, rubric: str, max_chars: int) -> JudgePrompt:
        """The template at ``path``, or the shipped one. Every placeholder but ``{reference}``
        must be in it: a prompt without both answers judges nothing."""
        if path is None:
            text, source = read_shipped("judge-prompt.txt").decode("utf-8"), "the shipped prompt"
        else:
            try:
                text, source = path.read_text(encoding="utf-8"), str(path)
            except (OSError, UnicodeDecodeError) as exc:
                raise PromptError(f"judge.prompt {path}: cannot read it ({exc})") from exc
        missing = [p for p in ("request", "answer_a", "answer_b") if "{" + p + "}" not in text]
        if missing:
            names = ", ".join("{" + p + "}" for p in missing)
            raise PromptError(f"judge.prompt {source}: no {names}; expected every one of them")
        return cls(text, rubric, max_chars, source)

    @property
    def version(self) -> str:
        digest = hashlib.sha256(f"{self.template}\0{self.rubric}".encode()).hexdigest()
        return digest[:12]

    def render(self, request: str, answer_a: str, answer_b: str, reference: str | None) -> str:
        values = {
            "request": _cap(request, self.max_chars),
            "answer_a": _cap(answer_a, self.max_chars),
            "answer_b": _cap(answer_b, self.max_chars),
            "rubric": self.rubric,
            "reference": _cap(reference, self.max_chars) if reference else "(none given)",
        }
        return _SLOT.sub(lambda match: values[match.group(1)], self.template)
