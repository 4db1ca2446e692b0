"""``POST /darklaunch/feedback`` on the public listener: an end user's word on an answer.

The request is darklaunch's own and is never forwarded to the incumbent. The contract::

    POST <feedback.path>  {"request_id": "req_…", "rating": "bad" | "good", "comment": "…"}
    202  {"status": "recorded", "pair_id": "…" | null}
    400  a body that is not the object above (OpenAI's error shape; ``param`` names the field)
    405  any other method (``Allow: POST``)
    413  a body over :data:`MAX_FEEDBACK_BYTES`
    429  the client is over ``feedback.max_per_minute`` (``Retry-After``)
    503  Redis did not take it: nothing was recorded, the client may retry

Errors name the field, the value sent and what was expected, and carry
``x-darklaunch-error: <code>`` like darklaunch's other errors. Every request to the path
counts against its client's rate, valid or not, so garbage cannot be sent faster than
feedback.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from proxy.config.feedback import FeedbackConfig
from proxy.feedback.limiter import ClientLimiter, client_key
from proxy.feedback.memory import MAX_ID_CHARS, RequestMemory
from proxy.feedback.record import FeedbackRecordBuilder, Match
from proxy.feedback.store import DROP_REASONS, FeedbackNotStored, FeedbackStore
from proxy.http.cycle import Handler, Request
from proxy.http.errors import error_body, error_headers
from proxy.http.writer import ResponseWriter
from proxy.metrics import ProxyMetrics

logger = logging.getLogger(__name__)

__all__ = ["MAX_FEEDBACK_BYTES", "MAX_REQUEST_ID_CHARS", "FeedbackEndpoint", "FeedbackInputError"]

MAX_FEEDBACK_BYTES = 16 * 1024
MAX_REQUEST_ID_CHARS = MAX_ID_CHARS
RATINGS = ("bad", "good")
_FIELDS = ("request_id", "rating", "comment")
_EXAMPLE = '{"request_id": "req_123", "rating": "bad", "comment": "wrong answer"}'
# How long a client is told to wait when Redis did not take its feedback.
UNAVAILABLE_RETRY_AFTER_S = 5


class FeedbackInputError(ValueError):
    """A body that is not valid feedback; ``param`` is the field at fault, if one is."""

    def __init__(self, message: str, code: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.param = param


def _show(value: Any) -> str:
    """A value as the client sent it (JSON), shortened for an error message."""
    text = orjson.dumps(value).decode()
    return text if len(text) <= 60 else text[:57] + "..."


def parse_feedback(body: bytes) -> tuple[str, str, str | None]:
    """``(request_id, rating, comment)`` from a request body, or :class:`FeedbackInputError`."""
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise FeedbackInputError(
            f"request body: got invalid JSON ({exc}); expected a JSON object such as {_EXAMPLE}",
            "invalid_json",
        ) from exc
    if not isinstance(data, dict):
        raise FeedbackInputError(
            f"request body: got {_show(data)}; expected a JSON object such as {_EXAMPLE}",
            "invalid_json",
        )
    for key in data:
        if key not in _FIELDS:
            raise FeedbackInputError(
                f"{key}: unknown field; expected only {', '.join(_FIELDS)}", "unknown_field", key
            )
    request_id = data.get("request_id")
    if request_id is None:
        raise FeedbackInputError(
            "request_id: missing; expected the answer's request id (the x-request-id you sent, "
            "or the x-request-id / request-id header the answer carried)",
            "missing_field",
            "request_id",
        )
    if (
        not isinstance(request_id, str)
        or not request_id.strip()
        or len(request_id) > MAX_REQUEST_ID_CHARS
        or not request_id.isprintable()
    ):
        raise FeedbackInputError(
            f"request_id: got {_show(request_id)}; expected a non-empty string of printable "
            f"characters, at most {MAX_REQUEST_ID_CHARS}",
            "invalid_field",
            "request_id",
        )
    rating = data.get("rating")
    if rating not in RATINGS:
        got = "nothing" if rating is None else _show(rating)
        raise FeedbackInputError(
            f'rating: got {got}; expected "bad" or "good"', "invalid_field", "rating"
        )
    comment = data.get("comment")
    if comment is not None and not isinstance(comment, str):
        raise FeedbackInputError(
            f"comment: got {_show(comment)}; expected a string or null",
            "invalid_field",
            "comment",
        )
    return request_id, rating, comment


class FeedbackEndpoint:
    """Answers the feedback path; everything else goes to the forwarder (:meth:`route`)."""

    def __init__(
        self,
        config: FeedbackConfig,
        metrics: ProxyMetrics,
        builder: FeedbackRecordBuilder,
        store: FeedbackStore,
        memory: RequestMemory | None,
    ) -> None:
        self.path = config.path
        self.max_per_minute = config.max_per_minute
        self.limiter = ClientLimiter(config.max_per_minute)
        self.builder = builder
        self.store = store
        self.memory = memory
        self._rated = {rating: metrics.feedback.labels(rating) for rating in RATINGS}
        self._matched = {match: metrics.feedback_matched.labels(match.value) for match in Match}
        self._dropped = {reason: metrics.feedback_dropped.labels(reason) for reason in DROP_REASONS}
        self._limited = metrics.feedback_limited

    def route(self, forward: Handler) -> Handler:
        """The public listener's handler: this endpoint for its path, ``forward`` for the
        rest. One string comparison per request; without feedback the server is given
        ``forward`` itself and pays nothing."""
        path = self.path
        handle = self.handle

        async def dispatch(request: Request, response: ResponseWriter) -> None:
            if request.path == path:
                await handle(request, response)
            else:
                await forward(request, response)

        return dispatch

    async def handle(self, request: Request, response: ResponseWriter) -> None:
        if request.method != "POST":
            self._error(
                response,
                405,
                f"method {request.method}: not allowed on {self.path}; expected POST",
                "method_not_allowed",
                headers=[("Allow", "POST")],
            )
            return
        wait = self.limiter.take(client_key(request.remote, request.headers))
        if wait is not None:
            self._limited.inc()
            self._error(
                response,
                429,
                f"feedback: more than {self.max_per_minute} a minute from this client "
                f"(feedback.max_per_minute); expected a retry after {wait} s",
                "rate_limit_exceeded",
                headers=[("Retry-After", str(wait))],
            )
            return
        if len(request.body) > MAX_FEEDBACK_BYTES:
            self._error(
                response,
                413,
                f"request body: got {len(request.body)} bytes; expected at most "
                f"{MAX_FEEDBACK_BYTES} (a request id, a rating and a comment)",
                "request_too_large",
            )
            return
        try:
            request_id, rating, comment = parse_feedback(request.body)
        except FeedbackInputError as exc:
            self._error(response, 400, str(exc), exc.code, param=exc.param)
            return
        memory = self.memory
        remembered = memory.lookup(request_id) if memory is not None else None
        record, match = self.builder.build(request_id, rating, comment, remembered)
        try:
            await self.store.write(orjson.dumps(record))
        except FeedbackNotStored as exc:
            self._dropped[exc.reason].inc()
            logger.warning("feedback on %s not recorded: %s", request_id, exc)
            self._error(
                response,
                503,
                f"feedback not recorded: {exc.detail} ({exc.reason}); expected to succeed on "
                "a retry once the proxy's Redis answers",
                "feedback_unavailable",
                headers=[("Retry-After", str(UNAVAILABLE_RETRY_AFTER_S))],
            )
            return
        self._rated[rating].inc()
        self._matched[match].inc()
        body = orjson.dumps({"status": "recorded", "pair_id": record["pair_id"]})
        response.send(202, [("Content-Type", "application/json")], body)

    @staticmethod
    def _error(
        response: ResponseWriter,
        status: int,
        message: str,
        code: str,
        *,
        param: str | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        """OpenAI's error shape (:func:`proxy.http.errors.error_body`), with ``param`` naming
        the field at fault."""
        body = error_body(status, message, code, param)
        response.send(status, [*error_headers(code), *(headers or [])], body)
