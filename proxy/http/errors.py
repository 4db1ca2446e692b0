"""darklaunch's own error responses, in OpenAI's shape so that every SDK maps them.

The incumbent's own errors are relayed verbatim and never pass through here; these are only
for failures that are darklaunch's to report (the upstream could not be reached, timed out,
or the request broke a limit). The ``code`` is stable and documented; clients can match it.

This module knows the shape, not the listeners: the public listener's writer sends it
(:func:`proxy.http.writer.send_error`), and :func:`error_response` wraps it for the admin
listener (aiohttp).
"""

from __future__ import annotations

import orjson
from aiohttp import web

__all__ = ["error_body", "error_headers", "error_response"]

_TYPES = {
    400: "invalid_request_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    408: "timeout",
    413: "invalid_request_error",
    429: "requests",  # OpenAI's type for a rate limit
    431: "invalid_request_error",
    500: "server_error",
    501: "invalid_request_error",
    502: "upstream_error",
    503: "server_error",
    504: "timeout",
}


def error_body(status: int, message: str, code: str, param: str | None = None) -> bytes:
    """``{"error": {"message", "type", "param", "code"}}``, the type following the status;
    ``param`` names the request field at fault, when one is."""
    return orjson.dumps(
        {
            "error": {
                "message": message,
                "type": _TYPES.get(status, "server_error"),
                "param": param,
                "code": code,
            }
        }
    )


def error_headers(code: str) -> list[tuple[str, str]]:
    """``x-darklaunch-error`` lets operators tell our errors from the incumbent's at a glance."""
    return [("Content-Type", "application/json"), ("x-darklaunch-error", code)]


def error_response(
    status: int,
    message: str,
    code: str,
    *,
    headers: dict[str, str] | None = None,
    param: str | None = None,
) -> web.Response:
    """An error for the admin listener (aiohttp), in the same shape and with the same header
    as the public listener's."""
    body = error_body(status, message, code, param)
    response = web.Response(status=status, body=body, content_type="application/json")
    response.headers["x-darklaunch-error"] = code
    if headers:
        response.headers.update(headers)
    return response
