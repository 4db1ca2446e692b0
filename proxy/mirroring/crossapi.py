"""A candidate that speaks another API than the client: where its call goes and what it is sent.

``candidates[].api`` names the API a candidate speaks. When it is the client's (the route's),
nothing changes. When it differs, the client's body is translated
(:mod:`proxy.mirroring.translate`) and sent to the counterpart route under the same prefix:
``/v1/chat/completions`` ↔ ``/v1/messages``. The query string stays home: it belongs to the
client's API (Azure's ``api-version``, say) and means nothing to the other one. The answer is
assembled in the candidate's format (:mod:`proxy.recording.assembly`) into the record's one
output shape, so it is compared with the incumbent's like any other.

Only those two routes have a counterpart. A Responses, Completions or Embeddings request to a
candidate of another API is refused with ``unsupported_route``, as is anything the translator
refuses: a mirror is skipped and counted, never sent half translated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson
from multidict import CIMultiDict

from proxy.config.upstreams import CandidateConfig
from proxy.mirroring.request import candidate_body
from proxy.mirroring.translate import Untranslatable, chat_to_messages, messages_to_chat
from proxy.recording.assembly.dispatch import route_format

__all__ = [
    "ANTHROPIC_VERSION",
    "Api",
    "CrossCall",
    "Outgoing",
    "api_headers",
    "cross_call",
    "outgoing",
    "route_api",
]

Api = Literal["openai", "anthropic"]

ANTHROPIC_VERSION = "2023-06-01"
"""The ``anthropic-version`` header an Anthropic candidate gets when neither the client nor the
candidate's ``headers`` set one: the API refuses a call without it."""

_CHAT = "/chat/completions"
_MESSAGES = "/messages"
_COUNTERPARTS: dict[str, Api] = {"chat": "openai", "messages": "anthropic"}


@dataclass(frozen=True, slots=True)
class CrossCall:
    """A translated mirror call: the candidate's path (also the route its answer is read as)
    and body."""

    path: str
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """What one mirror call sends: the body, the path (with the client's query when not
    translated) and, for a translated call, the route its answer is read as."""

    body: bytes
    path_qs: str
    route: str | None = None


def outgoing(
    config: CandidateConfig, route: str, path_qs: str, parsed: dict[str, Any], raw: bytes
) -> Outgoing | Untranslatable:
    """The call a candidate (or the replica) is sent for a request on ``route``: the client's
    body with the candidate's rewrites, translated first when the candidate speaks another
    API; or why it cannot be sent. The live mirror and ``darklaunch replay`` both build their
    calls here, so a candidate is asked the same way by either."""
    crossed = cross_call(config.api, route, parsed) if config.api is not None else None
    if isinstance(crossed, Untranslatable):
        return crossed
    if crossed is None:
        return Outgoing(candidate_body(config, parsed, route, raw), path_qs)
    body = candidate_body(config, crossed.body, crossed.path, orjson.dumps(crossed.body))
    return Outgoing(body, crossed.path, crossed.path)


def api_headers(config: CandidateConfig, headers: CIMultiDict[str]) -> CIMultiDict[str]:
    """``headers`` with what the candidate's API cannot do without: Anthropic refuses a call
    with no ``anthropic-version``, so one is set unless the client or the config sent one."""
    if config.api == "anthropic" and "anthropic-version" not in headers:
        headers["anthropic-version"] = ANTHROPIC_VERSION
    return headers


def route_api(route: str) -> Api | None:
    """The API whose request a route carries, when it has a counterpart in the other API: the
    assembler's reading of the route (:func:`~proxy.recording.assembly.dispatch.route_format`),
    so a request is translated exactly when its answer will be read in the other format."""
    return _COUNTERPARTS.get(route_format(route))


def cross_call(
    api: Api | None, route: str, body: dict[str, Any]
) -> CrossCall | Untranslatable | None:
    """``None`` when the candidate speaks the client's API (send the client's request), the
    translated call otherwise, or why it cannot be made.

    ``route`` is the request's path without its query.
    """
    if api is None:
        return None
    client_api = route_api(route)
    if client_api == api:
        return None
    if client_api is None:
        if api == "openai":
            return None  # OpenAI's other routes (Responses, Embeddings...): sent as they are
        return Untranslatable(
            "unsupported_route",
            f"route {route!r} has no counterpart in the {api} API; expected a path ending "
            f"in {_CHAT} or {_MESSAGES}",
        )
    if api == "anthropic":
        translated = chat_to_messages(body)
        path = route.removesuffix(_CHAT) + _MESSAGES
    else:
        translated = messages_to_chat(body)
        path = route.removesuffix(_MESSAGES) + _CHAT
    if isinstance(translated, Untranslatable):
        return translated
    return CrossCall(path, translated)
