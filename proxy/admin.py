"""The admin API: change the sample rate or pause mirroring while the proxy runs.

Every call needs ``Authorization: Bearer <admin.token>``; without a configured token the API
is disabled (403), and a missing or wrong token gets 401. Tokens are compared in constant
time. Every change is logged with the old and new value and who asked.

    POST /admin/mirror   {"sample_rate": 0.1}  or  {"paused": true}
    GET  /admin/mirror   the current settings
    GET  /admin/rollout  the staged rollout's state as this proxy applies it (``rollout:``)
    POST /admin/rollout  {"action": "rollback", "reason": "..."}  (see proxy.rollout.admin)
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

import orjson
from aiohttp import web
from pydantic import SecretStr

from proxy.http.errors import error_response
from proxy.mirroring.mirror import Mirror
from proxy.rollout.admin import add_rollout_routes
from proxy.rollout.follower import RolloutFollower

logger = logging.getLogger(__name__)

__all__ = ["add_admin_routes"]


def _settings(mirror: Mirror) -> dict[str, Any]:
    return {"sample_rate": mirror.sample_rate, "paused": mirror.paused}


def add_admin_routes(
    app: web.Application,
    token: SecretStr | None,
    mirror: Mirror,
    rollout: RolloutFollower | None = None,
) -> None:
    expected = token.get_secret_value().encode() if token is not None else b""

    def refuse(request: web.Request) -> web.Response | None:
        if not expected:
            return error_response(
                403, "the admin API is disabled: set admin.token", "admin_disabled"
            )
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
            return error_response(
                401,
                "admin API needs Authorization: Bearer <admin.token>",
                "unauthorized",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return None

    async def show(request: web.Request) -> web.Response:
        return refuse(request) or web.json_response(_settings(mirror))

    async def change(request: web.Request) -> web.Response:
        refused = refuse(request)
        if refused is not None:
            return refused
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return error_response(400, "expected a JSON object body", "invalid_json")
        if not isinstance(body, dict) or not body or set(body) - {"sample_rate", "paused"}:
            return error_response(
                400, "expected a JSON object with 'sample_rate' and/or 'paused'", "invalid_request"
            )
        rate = body.get("sample_rate", mirror.sample_rate)
        paused = body.get("paused", mirror.paused)
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate <= 1.0:
            return error_response(
                400, f"sample_rate: got {rate!r}; expected a number in [0, 1]", "invalid_value"
            )
        if not isinstance(paused, bool):
            return error_response(
                400, f"paused: got {paused!r}; expected true or false", "invalid_value"
            )
        before = _settings(mirror)
        mirror.sample_rate = float(rate)
        mirror.paused = paused
        logger.warning(
            "admin change from %s: mirror %s -> %s", request.remote, before, _settings(mirror)
        )
        return web.json_response(_settings(mirror))

    app.router.add_get("/admin/mirror", show)
    app.router.add_post("/admin/mirror", change)
    if rollout is not None:
        add_rollout_routes(app, refuse, rollout)
