"""End users' feedback on the answers they got: ``POST /darklaunch/feedback`` on the public
listener (see docs/records.md, "Feedback")."""

from __future__ import annotations

from pydantic import Field, field_validator

from proxy.config.base import Section

__all__ = ["FeedbackConfig"]


class FeedbackConfig(Section):
    """End users rate an answer they got (`bad` or `good`) by its request id; each rating is
    one entry of the campaign's feedback stream, tied to its pair when the request was mirrored.

    ``feedback: {enabled: true, path: /darklaunch/feedback, max_per_minute: 30}``
    """

    enabled: bool = True
    """Answer `POST <path>` on the public listener; `false` forwards the path to the incumbent
    like any other request, and nothing is remembered per request."""
    path: str = "/darklaunch/feedback"
    """Path of the feedback endpoint on the public listener (exact match); never forwarded."""
    max_per_minute: int = Field(default=30, ge=1)
    """Feedback requests one client may send per minute (client: its IP address plus a hash of
    its `Authorization` header); beyond it, 429 with `Retry-After`."""
    remember: int = Field(default=10_000, ge=0)
    """Request ids remembered per proxy process (the client's `x-request-id` and the
    incumbent's), so feedback can name its pair or keep its request; 0 remembers none, and
    feedback is then recorded by request id only."""
    remember_max_bytes: int = Field(default=64 * 1024 * 1024, ge=0)
    """Bytes of unsampled request bodies held for `remember` at most, per process; the oldest
    ids are forgotten first beyond it."""
    max_comment_chars: int = Field(default=2000, ge=0)
    """Longest comment kept, in characters; a longer one is cut (never refused)."""

    @field_validator("path")
    @classmethod
    def _check_path(cls, value: str) -> str:
        if not value.startswith("/") or "?" in value or "#" in value or " " in value:
            raise ValueError("a path starting with '/', without query, fragment or spaces")
        return value
