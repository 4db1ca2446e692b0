"""The admin API's rollout routes, behind the admin token like the rest of it.

    GET  /admin/rollout   the state this proxy applies, when Redis last answered, and whether a
                          local rollback is still waiting to be stored
    POST /admin/rollout   {"action": "rollback" | "pause" | "resume" | "advance" | "start",
                           "reason": "..."}

A rollback applies in this proxy at once, before Redis is asked, and is stored (so every other
proxy follows within ``rollout.sync_interval_s``) as soon as Redis answers: 200 when stored,
202 when it is only local so far. Every other action needs Redis (503 without it) and is
refused with 409 when the state does not allow it or changed meanwhile.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from proxy.http.errors import error_response
from proxy.recording.connect import REDIS_ERRORS
from proxy.rollout.follower import RolloutFollower, proxy_actor
from proxy.rollout.state import Action, TransitionError
from proxy.rollout.store import StaleState

logger = logging.getLogger(__name__)

__all__ = ["add_rollout_routes"]

Refuse = Callable[[web.Request], web.Response | None]
_ACTIONS = ", ".join(action.value for action in Action)


def _view(follower: RolloutFollower) -> dict[str, Any]:
    synced = follower.synced_at
    return {
        "state": follower.state.model_dump(mode="json"),
        "serving_share": follower.share,
        "synced_age_s": None if synced is None else round(time.time() - synced, 3),
        "local_rollback_pending": follower.pending_rollback is not None,
    }


def add_rollout_routes(app: web.Application, refuse: Refuse, follower: RolloutFollower) -> None:
    async def show(request: web.Request) -> web.Response:
        return refuse(request) or web.json_response(_view(follower))

    async def act(request: web.Request) -> web.Response:
        refused = refuse(request)
        if refused is not None:
            return refused
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return error_response(400, "expected a JSON object body", "invalid_json")
        if not isinstance(body, dict) or set(body) - {"action", "reason"}:
            return error_response(
                400, "expected a JSON object with 'action' and optionally 'reason'",
                "invalid_request",
            )  # fmt: skip
        try:
            action = Action(str(body.get("action")))
        except ValueError:
            return error_response(
                400, f"action: got {body.get('action')!r}; expected one of {_ACTIONS}",
                "invalid_value", param="action",
            )  # fmt: skip
        reason = body.get("reason") or f"{action.value} through the admin API"
        if not isinstance(reason, str) or len(reason) > 500:
            return error_response(
                400, "reason: expected a string of at most 500 characters", "invalid_value",
                param="reason",
            )  # fmt: skip
        actor = proxy_actor()
        logger.warning("admin %s of the rollout from %s: %s", action, request.remote, reason)
        if action is Action.ROLLBACK:
            return await _rollback(follower, actor, reason)
        if follower.store is None:
            return error_response(503, "the rollout's Redis is not configured", "no_redis")
        try:
            state, _ = await follower.store.act(action, actor=actor, reason=reason)
        except (TransitionError, StaleState) as exc:
            return error_response(409, str(exc), "conflict")
        except (*REDIS_ERRORS, OSError, TimeoutError) as exc:
            return error_response(
                503, f"Redis did not answer ({type(exc).__name__}); nothing changed",
                "redis_unreachable",
            )  # fmt: skip
        follower.adopt(state)
        return web.json_response(_view(follower))

    app.router.add_get("/admin/rollout", show)
    app.router.add_post("/admin/rollout", act)


async def _rollback(follower: RolloutFollower, actor: str, reason: str) -> web.Response:
    """Roll back here now; then store it, or leave that to the follower while Redis is away."""
    try:
        follower.rollback_locally(actor, reason)
    except TransitionError as exc:
        return error_response(409, str(exc), "conflict")
    if follower.store is not None:
        # On failure the follower keeps trying; this proxy has rolled back already.
        with contextlib.suppress(*REDIS_ERRORS, OSError, TimeoutError):
            await follower.store_pending()
    status = 202 if follower.pending_rollback is not None else 200
    return web.json_response(_view(follower), status=status)
