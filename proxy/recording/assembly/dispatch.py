"""The entry point of assembly: pick the wire format by route and content type, hand the bytes
to its assembler, and keep the promise that assembly never raises.

Embeddings and any other JSON have no fragments to merge, so they are assembled here.
"""

from __future__ import annotations

import logging
from typing import Literal

from proxy.recording.assembly.chat import chat_json, choices_stream, completions_json
from proxy.recording.assembly.common import (
    INVALID,
    as_dict,
    as_str,
    body_text,
    error_of,
    loads,
    output_data,
)
from proxy.recording.assembly.messages import messages_json, messages_stream
from proxy.recording.assembly.responses import responses_json, responses_stream
from proxy.recording.encode import OutputData
from proxy.recording.schema import Output

__all__ = ["UNKNOWN_FORMAT", "Format", "assemble", "assemble_output", "route_format"]

logger = logging.getLogger(__name__)

UNKNOWN_FORMAT = "unknown_format"
"""``Output.unscored`` of an answer on a route no assembler knows."""

Format = Literal["chat", "completions", "responses", "messages", "embeddings", "other"]


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
    flavour = route_format(route)
    try:
        out = _assemble_stream(flavour, body) if streamed else _assemble_json(flavour, body)
    except Exception:  # the contract is "never raise": a bug here must not lose the pair
        logger.warning(
            "could not assemble a %s response of %d bytes", route, len(body), exc_info=True
        )
        out = output_data(body_text(body), partial=True)
    out["streamed"] = streamed
    out["truncated"] = truncated
    out["format"] = flavour
    if flavour == "other" and error_of(out["body"]) is None:
        # No assembler knows this route's answers: keep the (redacted) body for a person,
        # and tell every comparator there is nothing it can read.
        out["unscored"] = UNKNOWN_FORMAT
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


def _is_event_stream(content_type: str | None, body: bytes) -> bool:
    if content_type is not None:
        return content_type.lstrip().lower().startswith("text/event-stream")
    # No header at all: trust the bytes, since JSON never starts with an SSE field name.
    return body[:32].lstrip().startswith((b"data:", b"event:", b":"))


def route_format(route: str) -> Format:
    """The wire format of a route's answers (and requests). Matched by suffix so that
    prefixed mounts (Azure deployments, /openai/v1/...) still work."""
    path = route.partition("?")[0].rstrip("/")
    if path.endswith("/chat/completions"):
        return "chat"
    if path.endswith("/completions"):
        return "completions"
    if path.endswith("/responses"):
        return "responses"
    if path.endswith("/messages") and "/threads/" not in path:
        # Anthropic's /v1/messages; its /count_tokens and /batches answer in other shapes, and
        # OpenAI's Assistants (/v1/threads/{id}/messages) lists thread messages, not an answer.
        return "messages"
    if path.endswith("/embeddings"):
        return "embeddings"
    return "other"


def _assemble_stream(flavour: Format, body: bytes) -> OutputData:
    if flavour in ("chat", "completions"):
        return choices_stream(body)
    if flavour == "responses":
        return responses_stream(body)
    if flavour == "messages":
        return messages_stream(body)
    return output_data(body_text(body))  # nobody streams embeddings; keep the bytes readable


def _assemble_json(flavour: Format, body: bytes) -> OutputData:
    parsed = loads(body)
    if parsed is INVALID:
        return output_data(body_text(body), partial=True)
    if flavour == "other" or error_of(parsed) is not None:
        return output_data(parsed)
    if not isinstance(parsed, dict):
        return output_data(parsed, partial=True)
    if flavour == "embeddings":
        return output_data(
            parsed, usage=as_dict(parsed.get("usage")), model=as_str(parsed.get("model")) or None
        )
    if flavour == "responses":
        return responses_json(parsed)
    if flavour == "messages":
        return messages_json(parsed)
    if flavour == "chat":
        return chat_json(parsed)
    return completions_json(parsed)
