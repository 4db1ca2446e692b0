"""End users' feedback through the proxy (``POST /darklaunch/feedback``).

    memory     which recent request ids name which pair or request (on the request path)
    limiter    how much feedback one client may send
    record     the redacted ``Feedback`` entry
    store      the Redis stream it goes to
    endpoint   the HTTP contract, and the routing of the feedback path

:func:`build_feedback` wires them from a config; the forwarder fills the memory, the server
routes the path to the endpoint.
"""

from __future__ import annotations

from proxy.config.root import Config
from proxy.feedback.endpoint import FeedbackEndpoint
from proxy.feedback.memory import RememberedRequest, RequestMemory
from proxy.feedback.record import FeedbackRecordBuilder
from proxy.feedback.store import FeedbackStore
from proxy.metrics import ProxyMetrics
from proxy.recording.redact import Redactor

__all__ = ["FeedbackEndpoint", "RememberedRequest", "RequestMemory", "build_feedback"]


def build_feedback(
    config: Config, metrics: ProxyMetrics, redactor: Redactor
) -> tuple[FeedbackEndpoint | None, RequestMemory | None]:
    """The endpoint and the memory the forwarder fills; ``(None, None)`` when feedback is off,
    and no memory when ``feedback.remember`` is 0 (feedback is then kept by request id)."""
    feedback = config.feedback
    if not feedback.enabled:
        return None, None
    memory = (
        RequestMemory(feedback.remember, feedback.remember_max_bytes)
        if feedback.remember > 0
        else None
    )
    builder = FeedbackRecordBuilder(
        config.recording.campaign,
        redactor,
        max_comment_chars=feedback.max_comment_chars,
        max_body_bytes=config.recording.max_body_bytes,
    )
    store = FeedbackStore(config.recording.campaign)
    return FeedbackEndpoint(feedback, metrics, builder, store, memory), memory
