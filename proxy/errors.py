"""darklaunch's own error responses, in OpenAI's shape so that every SDK maps them.

The incumbent's own errors are relayed verbatim and never pass through here; these are only
for failures that are darklaunch's to report (the upstream could not be reached, timed out,
or the request broke a limit). The ``code`` is stable and documented; clients can match it.
"""

from __future__ import annotations

import orjson
from aiohttp import web

__all__ = ["error_response"]

_TYPES = {
    400: "invalid_request_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    408: "timeout",
    413: "invalid_request_error",
    431: "invalid_request_error",
    500: "server_error",
    502: "upstream_error",
    503: "server_error",
    504: "timeout",
}


def error_response(
    status: int, message: str, code: str, *, headers: dict[str, str] | None = None
) -> web.Response:
    """``{"error": {"message", "type", "param", "code"}}`` with ``x-darklaunch-error`` set,
    so operators can tell our errors from the incumbent's at a glance."""
    body = orjson.dumps(
        {
            "error": {
                "message": message,
                "type": _TYPES.get(status, "server_error"),
                "param": None,
                "code": code,
            }
        }
    )
    response = web.Response(status=status, body=body, content_type="application/json")
    response.headers["x-darklaunch-error"] = code
    if headers:
        response.headers.update(headers)
    return response
