"""Build one :class:`~proxy.recording.schema.Feedback` entry, redacted, from what was sent and
what the proxy remembered.

Redaction happens here, when feedback arrives, and never on the request path: the memory
holds the unsampled request's raw bytes, and only a request someone gave feedback on is
parsed, redacted and capped, the way :mod:`proxy.pairing` treats a pair's request.
"""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Any

import orjson

from proxy.feedback.memory import Remembered, RememberedRequest
from proxy.recording.redact import Redactor

__all__ = ["FeedbackRecordBuilder", "Match"]


class Match(StrEnum):
    """What the feedback's request id was found to be; the ``match`` metric label."""

    PAIR = "pair"  # a sampled request: the record names its pair
    REQUEST = "request"  # an unsampled one the proxy still remembered: the record keeps it
    UNKNOWN = "unknown"  # forgotten, from another process, or never seen: the id alone


class FeedbackRecordBuilder:
    """Turns accepted feedback into the plain data of one ``Feedback`` stream entry."""

    def __init__(
        self,
        campaign: str,
        redactor: Redactor,
        *,
        max_comment_chars: int,
        max_body_bytes: int,
    ) -> None:
        self.campaign = campaign
        self.redactor = redactor
        self.max_comment_chars = max_comment_chars
        self.max_body_bytes = max_body_bytes

    def build(
        self,
        request_id: str,
        rating: str,
        comment: str | None,
        remembered: Remembered | None,
    ) -> tuple[dict[str, Any], Match]:
        """The record and how its request id matched."""
        record: dict[str, Any] = {
            "campaign": self.campaign,
            "request_id": self.redactor.text(request_id),
            "rating": rating,
            "comment": self._comment(comment),
            "time": time.time(),
            "pair_id": None,
            "route": None,
            "request": None,
        }
        if isinstance(remembered, str):
            record["pair_id"] = remembered
            return record, Match.PAIR
        if isinstance(remembered, RememberedRequest):
            record["route"] = remembered.route
            if remembered.body is not None:
                record["request"] = self._request(remembered.body)
            return record, Match.REQUEST
        return record, Match.UNKNOWN

    def _comment(self, comment: str | None) -> str | None:
        """Redacted first, then cut: cutting first could leave half an address that no
        pattern recognises any more."""
        if comment is None:
            return None
        return self.redactor.text(comment)[: self.max_comment_chars]

    def _request(self, raw: bytes) -> dict[str, Any]:
        """The request as a pair records it (``RequestInfo``'s shape, without headers): a
        redacted JSON body, or redacted text for a body that is not JSON."""
        redactor = self.redactor
        try:
            parsed: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            parsed = None
        stream = False
        model: str | None = None
        if isinstance(parsed, dict):
            body: Any = redactor.request_body(parsed)
            stream = parsed.get("stream") is True
            model = parsed["model"] if isinstance(parsed.get("model"), str) else None
        elif parsed is not None:
            body = redactor.tree(parsed)
        else:
            body = redactor.text(raw.decode("utf-8", errors="replace"))
        truncated = False
        encoded = orjson.dumps(body)
        if len(encoded) > self.max_body_bytes:
            body = encoded[: self.max_body_bytes].decode("utf-8", errors="ignore")
            truncated = True
        return {
            "headers": {},
            "body": body,
            "body_truncated": truncated,
            "stream": stream,
            "model": model,
            "tags": {},
        }
