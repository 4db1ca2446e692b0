"""What a candidate is sent: the client's body with the candidate's rewrites, and the client's
headers without its credentials or the tags it sent darklaunch.

Both run on the request path, once per sampled request and candidate.
"""

from __future__ import annotations

from typing import Any

import orjson
from multidict import CIMultiDict, CIMultiDictProxy

from proxy.config.upstreams import CandidateConfig
from proxy.http.headers import REQUEST_DROP, forwardable_headers
from proxy.recording.tags import TAGS_HEADER

__all__ = ["candidate_body", "candidate_headers", "with_stream_usage"]

# Headers that identify or authenticate the end user; a candidate never gets them unless the
# config says so, because a candidate may be a different provider.
_CREDENTIAL_HEADERS = ("authorization", "cookie", "api-key", "x-api-key", "openai-organization")


def candidate_body(config: CandidateConfig, body: dict[str, Any], route: str, raw: bytes) -> bytes:
    """The client's body with this candidate's model rewrite and overrides. Chat and
    completion streams ask for usage, since nobody sees a candidate's stream and cost
    accounting needs it (Responses streams always end with usage). With nothing to
    change, the candidate gets the client's bytes as they came."""
    if config.model is None and not config.body_overrides:
        if config.stream_usage:
            return with_stream_usage(body, route) or raw
        return raw
    if config.model is not None:
        body = {**body, "model": config.model}
    if config.body_overrides:
        body = _deep_merge(body, config.body_overrides)
    if config.stream_usage:
        return with_stream_usage(body, route) or orjson.dumps(body)
    return orjson.dumps(body)


def candidate_headers(
    config: CandidateConfig, client_headers: CIMultiDictProxy[str], pair_id: str
) -> CIMultiDict[str]:
    """The client's forwardable headers, less its credentials unless the config forwards
    them, plus the candidate's own headers and the shadow markers. The client's tags are for
    darklaunch's record: a candidate (or the replica) never sees them, so its answer cannot
    depend on them. The incumbent gets them as sent, since darklaunch changes nothing there."""
    drop = [*REQUEST_DROP, TAGS_HEADER]
    if not config.forward_authorization:
        drop.extend(_CREDENTIAL_HEADERS)
    headers = forwardable_headers(client_headers, drop)
    headers["content-type"] = "application/json"
    for name, value in config.headers.items():
        headers[name] = value
    headers["x-darklaunch-pair-id"] = pair_id
    headers["x-darklaunch-shadow"] = "1"
    return headers


def with_stream_usage(body: dict[str, Any], route: str) -> bytes | None:
    """The body re-encoded to ask for a usage chunk, or ``None`` when it needs no change:
    not a chat or completions stream, or usage already requested."""
    if body.get("stream") is not True or not route.endswith(("/chat/completions", "/completions")):
        return None
    options = body.get("stream_options")
    options = dict(options) if isinstance(options, dict) else {}
    if options.get("include_usage") is True:
        return None
    options["include_usage"] = True
    return orjson.dumps({**body, "stream_options": options})


def _deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        current = merged.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            merged[key] = _deep_merge(current, value)
        else:
            merged[key] = value
    return merged
