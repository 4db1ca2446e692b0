"""Model output as a reviewer reads it, with nothing in it able to run.

Answers are untrusted text: a model can be prompted (or a user can prompt it) to write
``<script>``, an ``onerror`` attribute or a ``javascript:`` link, and the reviewer's browser
holds a session that can write labels. So:

- markdown is rendered by markdown-it-py with raw HTML off (tags come out as text) and images
  off (an image would fetch a URL the model chose);
- a link survives only when its URL starts with ``http:``, ``https:`` or ``mailto:``; any
  other link (``javascript:``, ``data:``, relative, scheme tricks) stays as its source text;
- kept links get ``rel="noopener noreferrer nofollow"``;
- everything else (the request, tool calls, JSON) is plain text, escaped by the templates'
  autoescape; only :func:`markdown_html` returns markup, and the page's CSP (no inline script
  without the nonce) is the second line of defence.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from markupsafe import Markup

from proxy.recording.schema import Side

__all__ = [
    "Message",
    "SideView",
    "markdown_html",
    "pretty_json",
    "request_messages",
    "safe_link",
    "side_view",
    "tools_offered",
]

_SAFE_SCHEME = re.compile(r"(?:https?|mailto):", re.IGNORECASE)


def safe_link(url: str) -> bool:
    """Only absolute web and mail links; anything else is shown as text, never followed."""
    return _SAFE_SCHEME.match(url) is not None


def _link_open(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    tokens[idx].attrSet("rel", "noopener noreferrer nofollow")
    return self.renderToken(tokens, idx, options, env)


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.disable("image")
    md.validateLink = safe_link  # type: ignore[method-assign]
    md.add_render_rule("link_open", _link_open)
    return md


_MD = _markdown()


def markdown_html(text: str) -> Markup:
    """``text`` as HTML from markdown that can hold no script, handler or unsafe link."""
    return Markup(_MD.render(text))


def pretty_json(text: str) -> str | None:
    """``text`` indented, when it is a JSON object or array; ``None`` otherwise."""
    stripped = text.strip()
    if not stripped or stripped[0] not in "[{":
        return None
    try:
        return json.dumps(json.loads(stripped), indent=2, ensure_ascii=False)
    except ValueError:
        return None


@dataclass(frozen=True)
class Message:
    role: str
    text: str


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, dict):
                parts.append(f"[{part.get('type', 'part')}]")
        return "\n".join(parts)
    return "" if content is None else json.dumps(content, indent=2, ensure_ascii=False)


def request_messages(body: Any) -> list[Message]:
    """The conversation of a chat, Messages, Responses or completions request, in order."""
    if isinstance(body, str):
        return [Message("request (truncated)", body[:20_000])]
    if not isinstance(body, dict):
        return []
    found: list[Message] = []
    system = body.get("system") or body.get("instructions")
    if system:
        found.append(Message("system", _content_text(system)))
    for key in ("messages", "input"):
        items = body.get(key)
        if isinstance(items, str):
            found.append(Message("user", items))
        elif isinstance(items, list):
            for item in items:
                if isinstance(item, dict):
                    text = _content_text(item.get("content"))
                    calls = item.get("tool_calls")
                    if calls:
                        text += ("\n" if text else "") + json.dumps(calls, indent=2)
                    found.append(Message(str(item.get("role", item.get("type", "user"))), text))
    prompt = body.get("prompt")
    if isinstance(prompt, str | list):
        found.append(Message("prompt", _content_text(prompt)))
    return found


def tools_offered(body: Any) -> list[str]:
    """``name: description`` of each tool the request offered the model."""
    tools = body.get("tools") if isinstance(body, dict) else None
    if not isinstance(tools, list):
        return []
    found: list[str] = []
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        function = tool.get("function")
        spec: dict[str, Any] = function if isinstance(function, dict) else tool
        name = str(spec.get("name", tool.get("type", "?")))
        description = spec.get("description")
        found.append(f"{name}: {description}" if description else name)
    return found


@dataclass
class SideView:
    """One side as the pair page shows it: ``html`` is safe markdown, the rest is text."""

    name: str
    model: str | None
    html: Markup | None = None
    json_text: str | None = None
    tool_calls: list[str] = field(default_factory=list)
    refusal: str | None = None
    error: str | None = None
    reasoning: str | None = None
    latency_ms: float | None = None
    status: int | None = None


def _call_text(name: str, arguments: str) -> str:
    pretty = pretty_json(arguments)
    return f"{name}({pretty if pretty is not None else arguments})"


def side_view(side: Side | None) -> SideView:
    if side is None:
        return SideView(name="(missing)", model=None, error="this mirror is not in the pair")
    view = SideView(
        name=side.name, model=side.model, latency_ms=side.latency_ms, status=side.status
    )
    if side.error is not None:
        view.error = f"{side.error.kind}: {side.error.message}"
    output = side.output
    if output is None:
        return view
    text = output.text
    if text:
        view.json_text = pretty_json(text)
        if view.json_text is None:
            view.html = markdown_html(text)
    elif output.body is not None and not output.choices:
        view.json_text = json.dumps(output.body, indent=2, ensure_ascii=False)
    view.tool_calls = [_call_text(c.name, c.arguments) for c in output.tool_calls]
    if output.choices:
        view.refusal = output.choices[0].refusal
        view.reasoning = output.choices[0].reasoning
    return view
