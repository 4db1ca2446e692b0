"""Reviewers' tokens, and the review app's sessions.

A reviewer is a name with a token. Only the token's SHA-256 is stored (the Redis hash
``darklaunch:review:tokens``, name -> hex digest), so a copy of Redis lets no one review:
the token is shown once, when ``darklaunch review-token add NAME`` makes it, and never again.
A token is 24 random bytes, so a plain (unsalted, fast) hash is enough: there is nothing to
guess a dictionary from.

A session lives in the app's memory only (a restart logs everyone out, which is the point of
keeping it simple). It remembers the digest it was opened with, and every request checks that
digest is still the reviewer's: ``review-token remove NAME`` (or a replaced token) ends the
reviewer's open sessions at their next click.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from proxy.recording.keys import REVIEW_TOKENS_KEY
from proxy.recording.setup import RedisClient

__all__ = [
    "SESSION_TTL_S",
    "InvalidReviewerName",
    "ReviewerExists",
    "Session",
    "Sessions",
    "add_reviewer",
    "check_name",
    "hash_token",
    "list_reviewers",
    "remove_reviewer",
    "reviewer_digest",
    "reviewer_for_token",
]

SESSION_TTL_S = 12 * 3600.0  # a working day: a forgotten tab does not stay logged in forever
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


class InvalidReviewerName(ValueError):
    """A reviewer name is printed in pages and stored in labels: short and plain only."""


class ReviewerExists(ValueError):
    """``add`` of a name that already has a token (replace it explicitly)."""


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise InvalidReviewerName(
            f"reviewer name {name!r}; expected 1-64 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )
    return name


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def add_reviewer(client: RedisClient, name: str, *, replace: bool = False) -> str:
    """A new token for ``name``, of which only the hash is stored; the caller shows it once.

    Without ``replace`` an existing reviewer is refused (``HSETNX``, so two concurrent adds
    cannot both win); with it the old token stops working at once.
    """
    check_name(name)
    token = secrets.token_urlsafe(24)
    digest = hash_token(token)
    if replace:
        await client.hset(REVIEW_TOKENS_KEY, name, digest)
    elif not await client.hsetnx(REVIEW_TOKENS_KEY, name, digest):
        raise ReviewerExists(f"reviewer {name!r} already has a token; remove it or --replace")
    return token


async def list_reviewers(client: RedisClient) -> list[str]:
    names: Any = await client.hkeys(REVIEW_TOKENS_KEY)
    return sorted(_text(n) for n in names)


async def remove_reviewer(client: RedisClient, name: str) -> bool:
    """Whether ``name`` had a token; their open sessions end at their next request."""
    removed: Any = await client.hdel(REVIEW_TOKENS_KEY, name)
    return bool(removed)


async def reviewer_digest(client: RedisClient, name: str) -> str | None:
    value: Any = await client.hget(REVIEW_TOKENS_KEY, name)
    return None if value is None else _text(value)


async def reviewer_for_token(client: RedisClient, token: str) -> tuple[str, str] | None:
    """The (name, digest) whose token this is, or ``None``.

    Every stored digest is compared, with :func:`hmac.compare_digest`, whether or not one
    already matched, so the time taken says nothing about which digest came close.
    """
    if not token:
        return None
    digest = hash_token(token)
    stored: Any = await client.hgetall(REVIEW_TOKENS_KEY)
    found: tuple[str, str] | None = None
    for name, value in stored.items():
        if hmac.compare_digest(digest.encode(), _text(value).encode()):
            found = (_text(name), digest)
    return found


@dataclass
class Session:
    """A logged-in reviewer: ``csrf`` goes into every form and must come back with it."""

    reviewer: str
    digest: str
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    expires: float = field(default_factory=lambda: time.monotonic() + SESSION_TTL_S)

    def csrf_ok(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.csrf.encode())


class Sessions:
    """Random session ids -> :class:`Session`, in this process's memory."""

    def __init__(self, ttl_s: float = SESSION_TTL_S) -> None:
        self._ttl_s = ttl_s
        self._sessions: dict[str, Session] = {}

    def open(self, reviewer: str, digest: str) -> tuple[str, Session]:
        self._expire()
        session_id = secrets.token_urlsafe(32)
        session = Session(reviewer, digest, expires=time.monotonic() + self._ttl_s)
        self._sessions[session_id] = session
        return session_id, session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None or session.expires < time.monotonic():
            self._sessions.pop(session_id, None)
            return None
        return session

    def close(self, session_id: str | None) -> None:
        if session_id:
            self._sessions.pop(session_id, None)

    def _expire(self) -> None:
        now = time.monotonic()
        for session_id in [s for s, v in self._sessions.items() if v.expires < now]:
            del self._sessions[session_id]
