"""``darklaunch review``: the web app where people label pairs (aiohttp, server-rendered).

Reading a pair shows a person's prompts and a model's answers, and a label decides a release,
so nothing is readable or writable without a session: the login page and ``/healthz`` are the
only public routes; any other GET without a valid session is sent to the login page (302),
any API call or POST gets 401. A session comes from a reviewer's token
(:mod:`comparators.review.tokens`) and lives in a cookie that is HttpOnly and SameSite=Strict;
every POST also carries the session's CSRF token (compared in constant time) and, when the
browser sends an ``Origin``, it must be this host. Every response has a strict
Content-Security-Policy whose only script is the page's own, carrying a fresh nonce; model
output is rendered by :mod:`comparators.review.render`, which keeps it inert.

Routes: ``/`` (the queues), ``/q/<queue>`` (a queue's pairs), ``/pair/<pair>/<mirror>?q=``
(a pair and its label form; POST saves the label and goes to the next pair in the queue),
``/api/queue/<queue>`` (a queue as JSON), ``/login``, ``/logout``.
"""

from __future__ import annotations

import asyncio
import contextvars
import hmac
import secrets
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from aiohttp import web
from pydantic import ValidationError

from comparators.campaign import count_pairs, list_campaigns, load_pairs
from comparators.commands import NoSuchCampaign, describe_redis
from comparators.review.diffs import field_diffs
from comparators.review.label import VERDICTS, Label, add_label, load_labels
from comparators.review.queues import (
    QUEUES,
    CampaignData,
    QueueItem,
    build_queues,
    load_campaign_data,
    neighbours,
    pair_url,
)
from comparators.review.render import request_messages, side_view, tools_offered
from comparators.review.tokens import Session, Sessions, reviewer_digest, reviewer_for_token
from proxy.config.root import Config
from proxy.recording.schema import PairRecord
from proxy.recording.setup import RedisClient, open_client

__all__ = ["COOKIE", "CSP", "make_app", "run_review"]

COOKIE = "darklaunch_review"
CSP = (
    "default-src 'self'; script-src 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
PUBLIC = frozenset({"/login", "/healthz", "/favicon.ico"})
HEADLINES = (
    ("text similarity", "text.similarity"),
    ("semantic similarity", "semantic.similarity"),
    ("fact conflicts", "semantic.fact_conflicts"),
    ("JSON equal", "json.equal"),
    ("JSON fields changed", "json.changed_fields"),
    ("tool calls agree", "tool_calls.agree"),
    ("candidate error", "outcome.mirror_error"),
    ("candidate refused", "outcome.mirror_refusal"),
    ("candidate matches reference", "reference.mirror_match"),
)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class _State:
    client: RedisClient
    campaign: str
    templates: jinja2.Environment
    secure_cookie: bool
    cache_ttl_s: float
    sessions: Sessions = field(default_factory=Sessions)
    cached: tuple[float, CampaignData, dict[str, Sequence[QueueItem]]] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def queues(self) -> tuple[CampaignData, dict[str, Sequence[QueueItem]]]:
        """The queues, rebuilt at most every ``cache_ttl_s``: n/p must not rescan streams."""
        async with self.lock:
            now = time.monotonic()
            if self.cached is None or now - self.cached[0] > self.cache_ttl_s:
                data = await load_campaign_data(self.client, self.campaign)
                self.cached = (now, data, await build_queues(self.client, self.campaign, data))
            return self.cached[1], self.cached[2]


STATE = web.AppKey("review_state", _State)
# Per request (aiohttp serves each request in a task of its own, with its own context): kept
# out of the request's own mapping, whose typed keys only recent aiohttp versions have.
_NONCE: contextvars.ContextVar[str] = contextvars.ContextVar("review_nonce", default="")
_SESSION: contextvars.ContextVar[Session | None] = contextvars.ContextVar(
    "review_session", default=None
)


def _reviewer() -> str:
    session = _SESSION.get()
    assert session is not None, "only called behind the session check"
    return session.reviewer


def _text(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=message + "\n")


def _redirect(location: str, status: int = 303) -> web.Response:
    return web.Response(status=status, headers={"Location": location})


def _refused(request: web.Request) -> web.Response:
    if request.method != "GET" or request.path.startswith("/api/"):
        return _text(401, "log in first: /login")
    return _redirect("/login", 302)


def _secure(response: web.StreamResponse, nonce: str) -> None:
    response.headers["Content-Security-Policy"] = CSP.format(nonce=nonce)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == request.host


async def _session(request: web.Request) -> Session | None:
    """The request's session, if it is open and its reviewer's token is still the one it was
    opened with (removing or replacing a token ends the sessions it opened)."""
    state = request.app[STATE]
    session = state.sessions.get(request.cookies.get(COOKIE))
    if session is None:
        return None
    digest = await reviewer_digest(state.client, session.reviewer)
    if digest is None or not hmac.compare_digest(digest, session.digest):
        state.sessions.close(request.cookies.get(COOKIE))
        return None
    return session


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    nonce = secrets.token_urlsafe(18)
    _NONCE.set(nonce)
    _SESSION.set(None)
    response: web.StreamResponse
    if request.method == "POST" and not _same_origin(request):
        response = _text(403, "cross-origin request refused")
    elif request.path in PUBLIC:
        response = await handler(request)
    elif (session := await _session(request)) is None:
        response = _refused(request)
    else:
        _SESSION.set(session)
        if request.method == "POST":
            form = await request.post()
            csrf = form.get("csrf")
            if not session.csrf_ok(csrf if isinstance(csrf, str) else None):
                response = _text(403, "missing or wrong CSRF token; reload the page")
            else:
                response = await handler(request)
        else:
            response = await handler(request)
    _secure(response, nonce)
    return response


def _page(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    state = request.app[STATE]
    session = _SESSION.get()
    html = state.templates.get_template(template).render(
        nonce=_NONCE.get(),
        campaign=state.campaign,
        reviewer=session.reviewer if session else None,
        csrf=session.csrf if session else "",
        **context,
    )
    return web.Response(status=status, text=html, content_type="text/html", charset="utf-8")


async def _login_form(request: web.Request) -> web.StreamResponse:
    if await _session(request) is not None:
        return _redirect("/", 302)
    return _page(request, "login.html")


async def _login(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    token = (await request.post()).get("token")
    found = await reviewer_for_token(state.client, token.strip() if isinstance(token, str) else "")
    if found is None:
        return _page(request, "login.html", status=401, error="That token is not valid.")
    state.sessions.close(request.cookies.get(COOKIE))
    session_id, _ = state.sessions.open(*found)
    response = _redirect("/")
    response.set_cookie(
        COOKIE, session_id, httponly=True, samesite="Strict", secure=state.secure_cookie, path="/"
    )
    return response


async def _logout(request: web.Request) -> web.StreamResponse:
    request.app[STATE].sessions.close(request.cookies.get(COOKIE))
    response = _redirect("/login")
    response.del_cookie(COOKIE, path="/")
    return response


async def _mine(request: web.Request) -> dict[tuple[str, str], Label]:
    state = request.app[STATE]
    reviewer = _reviewer()
    labels = await load_labels(state.client, state.campaign)
    return {(x.pair_id, x.mirror): x for x in labels if x.reviewer == reviewer}


async def _index(request: web.Request) -> web.StreamResponse:
    _, queues = await request.app[STATE].queues()
    mine = await _mine(request)
    rows = [
        (name, title, len(queues[name]), sum((i.pair_id, i.mirror) in mine for i in queues[name]))
        for name, title in QUEUES.items()
    ]
    return _page(request, "index.html", rows=rows)


async def _queue_items(request: web.Request) -> tuple[str, list[dict[str, Any]]] | None:
    name = request.match_info["queue"]
    if name not in QUEUES:
        return None
    _, queues = await request.app[STATE].queues()
    mine = await _mine(request)
    items = [
        {
            "pair_id": i.pair_id,
            "mirror": i.mirror,
            "route": i.route,
            "kind": i.kind,
            "why": i.why,
            "url": pair_url(i, name),
            "my_label": (label.verdict if (label := mine.get((i.pair_id, i.mirror))) else None),
        }
        for i in queues[name]
    ]
    return name, items


async def _queue(request: web.Request) -> web.StreamResponse:
    found = await _queue_items(request)
    if found is None:
        return _text(404, "no such queue")
    name, items = found
    return _page(request, "queue.html", queue=name, title=QUEUES[name], items=items)


async def _queue_api(request: web.Request) -> web.StreamResponse:
    found = await _queue_items(request)
    if found is None:
        return web.json_response({"error": "no such queue"}, status=404)
    return web.json_response({"queue": found[0], "items": found[1]})


async def _find_pair(request: web.Request) -> tuple[PairRecord, str] | None:
    state = request.app[STATE]
    pair_id, mirror = request.match_info["pair_id"], request.match_info["mirror"]
    pair = (await load_pairs(state.client, state.campaign, {pair_id})).get(pair_id)
    if pair is None or not any(m.name == mirror for m in pair.mirrors):
        return None
    return pair, mirror


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "-" if value is None else str(value)


async def _pair(request: web.Request) -> web.StreamResponse:
    found = await _find_pair(request)
    if found is None:
        return _text(404, "no such pair and mirror in this campaign")
    pair, mirror = found
    queue = request.query.get("q", "worst")
    data, queues = await request.app[STATE].queues()
    key = (pair.pair_id, mirror)
    at, total, prev, nxt = neighbours(queues, queue, key)
    score = data.scores.get(key)
    values = score.values if score is not None else {}
    candidate = next(m for m in pair.mirrors if m.name == mirror)
    why = next((i.why for i in queues.get(queue, ()) if (i.pair_id, i.mirror) == key), None)
    return _page(
        request,
        "pair.html",
        pair=pair,
        mirror=mirror,
        queue=queue if queue in QUEUES else None,
        why=why,
        position=None if at is None else at + 1,
        total=total,
        prev_url=prev,
        next_url=nxt,
        messages=request_messages(pair.request.body),
        tools=tools_offered(pair.request.body),
        incumbent=side_view(pair.incumbent),
        candidate=side_view(candidate),
        headlines=[(n, _fmt(values[k])) for n, k in HEADLINES if values.get(k) is not None],
        divergence=_fmt(score.divergence) if score is not None else None,
        breaches=score.breaches if score is not None else [],
        latency=tuple(
            f"{ms:.0f}" if isinstance(ms := values.get(k), int | float) else "-"
            for k in ("latency.incumbent_ms", "latency.mirror_ms")
        ),
        cost=(_fmt(values.get("cost.incumbent_usd")), _fmt(values.get("cost.mirror_usd"))),
        judgement=data.judgements.get(key),
        diffs=field_diffs(score),
        verdicts=list(enumerate(VERDICTS, start=1)),
        mine=(await _mine(request)).get(key),
    )


async def _save(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    form = await request.post()
    found = await _find_pair(request)
    if found is None:
        return _text(404, "no such pair and mirror in this campaign")
    pair, mirror = found
    verdict = form.get("verdict")
    if verdict not in VERDICTS:
        return _text(400, f"verdict: expected one of {', '.join(VERDICTS)}")

    def text(name: str) -> str | None:
        value = form.get(name)
        return value.strip() or None if isinstance(value, str) else None

    try:
        label = Label.model_validate(
            {
                "campaign": state.campaign,
                "pair_id": pair.pair_id,
                "mirror": mirror,
                "reviewer": _reviewer(),
                "verdict": verdict,
                "expected": text("expected"),
                "note": text("note"),
                "time": time.time(),
            }
        )
    except ValidationError as exc:
        return _text(400, f"label refused: {exc.errors()[0]['msg']}")
    await add_label(state.client, label)
    queue = request.query.get("q", "")
    if queue not in QUEUES:
        return _redirect("/")
    _, queues = await state.queues()
    _, _, _, nxt = neighbours(queues, queue, (pair.pair_id, mirror))
    return _redirect(nxt or f"/q/{queue}")


async def _health(request: web.Request) -> web.StreamResponse:
    return _text(200, "ok")


async def _favicon(request: web.Request) -> web.StreamResponse:
    return web.Response(status=204)  # browsers ask for it; a 404 would litter their console


def make_app(
    client: RedisClient,
    campaign: str,
    *,
    secure_cookie: bool = False,
    cache_ttl_s: float = 30.0,
) -> web.Application:
    """The review app for ``campaign`` on ``client``; ``secure_cookie`` when served over
    HTTPS (behind a TLS proxy), so the session cookie is never sent in clear."""
    templates = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    templates.globals["pair_url"] = pair_url
    app = web.Application(middlewares=[_guard], client_max_size=256 * 1024)
    app[STATE] = _State(client, campaign, templates, secure_cookie, cache_ttl_s)
    app.router.add_get("/login", _login_form)
    app.router.add_post("/login", _login)
    app.router.add_post("/logout", _logout)
    app.router.add_get("/healthz", _health)
    app.router.add_get("/favicon.ico", _favicon)
    app.router.add_get("/", _index)
    app.router.add_get("/q/{queue}", _queue)
    app.router.add_get("/api/queue/{queue}", _queue_api)
    app.router.add_get("/pair/{pair_id}/{mirror}", _pair)
    app.router.add_post("/pair/{pair_id}/{mirror}", _save)
    return app


async def run_review(
    config: Config,
    campaign: str,
    host: str,
    port: int,
    *,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the review app until SIGINT or SIGTERM; a campaign without pairs is refused
    (:class:`~comparators.commands.NoSuchCampaign`), as the report refuses it."""
    async with open_client(config.recording) as client:
        if await count_pairs(client, campaign) == 0:
            known = await list_campaigns(client)
            raise NoSuchCampaign(campaign, describe_redis(config.recording), known)
        runner = web.AppRunner(make_app(client, campaign), access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
            bound_host, bound_port = runner.addresses[0][:2]
            if on_ready is not None:
                on_ready(f"http://{bound_host}:{bound_port}")
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            await stop.wait()
        finally:
            await runner.cleanup()
