"""The paired record: the one schema shared by the proxy that writes it and the comparators
that read it.

A *pair* is one mirrored client request together with what every upstream made of it: the
incumbent (what the client saw), each candidate, and optionally an incumbent *replica* used to
measure the incumbent's own nondeterminism. Streams are already assembled and secrets already
redacted when a record is built, so readers never need the raw bytes.

Readers must accept older ``schema_version`` values; writers always write the current one.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1

__all__ = [
    "SCHEMA_VERSION",
    "Choice",
    "ErrorInfo",
    "Expected",
    "Feedback",
    "GoldenRef",
    "Output",
    "PairRecord",
    "RequestInfo",
    "Role",
    "Side",
    "ToolCall",
]


class Role(StrEnum):
    """Which part an upstream plays in a pair; also the ``role`` metric label."""

    INCUMBENT = "incumbent"
    CANDIDATE = "candidate"
    REPLICA = "replica"


class _Model(BaseModel):
    # Records written by a newer proxy may carry fields this reader does not know; ignoring
    # them is what lets an old comparator read a new stream.
    model_config = ConfigDict(extra="ignore")


class ErrorInfo(_Model):
    """Why a side has no (complete) answer.

    ``kind`` is a small closed vocabulary so it can be a metric label: ``connect``,
    ``timeout``, ``first_byte_timeout``, ``http_status``, ``reset``, ``protocol``,
    ``client_disconnected``, ``stream_error`` or ``internal``.
    """

    kind: str
    message: str


class ToolCall(_Model):
    """One function call, with ``arguments`` kept as the exact string the model produced."""

    id: str | None = None
    name: str = ""
    arguments: str = ""


class Choice(_Model):
    """One choice of a chat or completion answer, assembled when it was streamed."""

    index: int = 0
    text: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    finish_reason: str | None = None
    refusal: str | None = None
    # The model's visible reasoning (Anthropic ``thinking`` blocks), kept apart from ``text``:
    # two answers that reason differently but say the same are the same answer.
    reasoning: str | None = None


class Output(_Model):
    """What an upstream answered, normalised across plain JSON, chat SSE and Responses events.

    ``body`` is the parsed JSON body of a non-streamed answer (``None`` for streams, whose
    content lives in ``choices``). ``usage`` is exactly what the upstream reported, or ``None``
    when it reported none (for example a stream without ``stream_options.include_usage``).
    """

    streamed: bool = False
    body: Any = None
    choices: list[Choice] = Field(default_factory=list)
    usage: dict[str, Any] | None = None
    response_model: str | None = None
    partial: bool = False
    truncated: bool = False
    # The wire format the answer was read as: ``chat``, ``completions``, ``responses``,
    # ``messages`` (Anthropic), ``embeddings`` or ``other``. ``None`` in older records.
    format: str | None = None
    # Why comparators cannot read this answer (``unknown_format``), or ``None``. An unscored
    # answer keeps its redacted body for a person to read, and no comparator ever scores it:
    # two answers nobody could read are not "identical".
    unscored: str | None = None

    @property
    def text(self) -> str:
        """The first choice's text: what comparators diff by default."""
        return self.choices[0].text if self.choices else ""

    @property
    def tool_calls(self) -> list[ToolCall]:
        return self.choices[0].tool_calls if self.choices else []

    @property
    def finish_reason(self) -> str | None:
        return self.choices[0].finish_reason if self.choices else None


class Side(_Model):
    """One upstream's part of a pair: who it was, how it went and what it said."""

    role: Role
    name: str
    model: str | None = None
    version: str | None = None
    status: int | None = None
    error: ErrorInfo | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    output: Output | None = None


class RequestInfo(_Model):
    """The client's request as recorded: allow-listed headers and a redacted, capped body."""

    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    body_truncated: bool = False
    stream: bool = False
    model: str | None = None
    # Segment labels for the report and gate (``tenant=acme``, ``feature=search``): from the
    # ``x-darklaunch-tags`` header and the config's ``recording.tags`` mapping. Keys and values
    # are short, printable and never secrets (see docs/records.md).
    tags: dict[str, str] = Field(default_factory=dict)


class Expected(_Model):
    """A reference answer a replayed pair is scored against (a golden item's ``expected``):
    whichever of its parts are given. ``value`` is the expected JSON value (``json`` in a
    golden item)."""

    text: str | None = None
    tool_calls: list[ToolCall] | None = None
    value: Any = None


class Feedback(_Model):
    """An end user's word on an answer they got (``POST /darklaunch/feedback`` on the proxy),
    one entry in ``darklaunch:{<campaign>}:feedback``.

    ``request_id`` is the id the client has: its own ``x-request-id`` or the one the
    incumbent answered with. ``pair_id`` names the pair when the request was mirrored;
    otherwise ``route`` and ``request`` (redacted, capped like a pair's) keep the request so it
    can still enter a golden set. ``comment`` is redacted like any recorded text."""

    campaign: str
    request_id: str
    rating: str  # "bad" or "good"
    comment: str | None = None
    time: float
    pair_id: str | None = None
    route: str | None = None
    request: Any = None


class GoldenRef(_Model):
    """Which golden-set item a replayed pair asked (``darklaunch replay``), and which of its
    ``--repeat`` rounds."""

    version: str
    item: str
    round: int = 0


class PairRecord(_Model):
    """One mirrored request and every upstream's outcome, written once to the pairs stream."""

    schema_version: int = SCHEMA_VERSION
    pair_id: str
    campaign: str
    timestamp: float
    # The mirror's live sample rate when this request was sampled, so a cost projection scales
    # by the rate the pair was actually drawn at (it can change at run time through
    # ``/admin/mirror``). ``None`` in records written before it was recorded.
    sample_rate: float | None = None
    route: str
    method: str
    request: RequestInfo
    incumbent: Side
    mirrors: list[Side] = Field(default_factory=list)
    # ``live`` for mirrored client traffic, ``replay`` for a golden set sent again by
    # ``darklaunch replay`` (then ``golden`` names the item). Older records are all live.
    source: str = "live"
    # Which answer the client got: ``incumbent``, or ``candidate`` for a request of a staged
    # rollout's cohort (``rollout:``) that the candidate served; then the incumbent side was
    # asked in the background (reverse shadow) and the mirror is what the client saw. The
    # roles stay the same either way, so every comparator reads the pair unchanged. A cohort
    # request the candidate failed is served by the incumbent: ``incumbent`` here, with the
    # candidate's failure in its mirror. Older records were all served by the incumbent.
    served: str = "incumbent"
    golden: GoldenRef | None = None
    # The answer a person or a golden set says is right, when known (replayed golden items
    # with an ``expected``): the ``reference`` comparator and the judge score both sides
    # against it. ``None`` for live traffic.
    expected: Expected | None = None
