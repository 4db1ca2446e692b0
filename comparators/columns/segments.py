"""Segments: the slices of traffic the gate judges apart, so a small broken slice cannot hide.

A candidate that breaks every tool call fails 100% of a slice that is 4% of traffic: averaged
over everything it is a 4-point move, inside most limits. So every check also runs per
segment. A pair belongs to one segment per *dimension*:

* ``route``: the API path (``/v1/chat/completions``);
* ``model``: the model the client asked for;
* ``kind``: what the request asked for, most specific first: ``embedding`` (an embeddings
  route), ``tool_call`` (the request offers tools), ``json`` (a JSON response format), else
  ``chat``;
* ``stream``: ``streamed`` or ``plain``;
* ``tag:<key>``: each user tag recorded with the pair (``PairRecord.request.tags``, from the
  ``x-darklaunch-tags`` header or the config's ``recording.tags``).

A segment is written ``dimension=value`` (``kind=tool_call``, ``tag:tenant=acme``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from comparators.builtin.json_diff import json_requested
from proxy.recording.schema import PairRecord, Side

__all__ = ["DIMENSIONS", "STREAM_LABELS", "mirror_fields", "request_kind", "segment_labels"]

DIMENSIONS = ("route", "model", "kind", "stream")
STREAM_LABELS = {True: "streamed", False: "plain"}


def request_kind(record: PairRecord) -> str:
    """What the request asked for; see the module docstring. A body recorded truncated (a
    string) is ``chat``: its tools cannot be read, and guessing would mislabel it."""
    if record.route.endswith("/embeddings"):
        return "embedding"
    body = record.request.body
    if not isinstance(body, dict):
        return "chat"
    if body.get("tools") or body.get("functions"):
        return "tool_call"
    if json_requested(body):
        return "json"
    return "chat"


def mirror_fields(record: PairRecord, mirror: Side) -> dict[str, Any]:
    """What every record about one (pair, mirror) carries to be joined and segmented: a score
    record and a judgement alike."""
    return {
        "pair_id": record.pair_id,
        "campaign": record.campaign,
        "timestamp": record.timestamp,
        "route": record.route,
        "model": record.request.model,
        "mirror": mirror.name,
        "role": mirror.role,
        "mirror_model": mirror.model,
        "kind": request_kind(record),
        "stream": record.request.stream,
        "tags": record.request.tags,
    }


def segment_labels(
    route: str, model: str | None, kind: str | None, streamed: bool | None, tags: Mapping[str, str]
) -> dict[str, str]:
    """``{dimension: value}`` for one score record; unknown dimensions are left out."""
    labels = {"route": route}
    if model is not None:
        labels["model"] = model
    if kind is not None:
        labels["kind"] = kind
    if streamed is not None:
        labels["stream"] = STREAM_LABELS[streamed]
    for key, value in tags.items():
        labels[f"tag:{key}"] = value
    return labels
