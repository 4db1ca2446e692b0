"""Each proxy's copy of the rollout state, kept current from Redis.

A change reaches a proxy two ways: the message published with it (at once) and a reread every
``rollout.sync_interval_s`` (at most 2 s, for the message a reconnect lost). A proxy only ever
moves to a newer version, so a late message cannot undo a later change; the one exception is a
state that is gone from Redis altogether, which turns the candidate off (nobody could steer it).

While Redis is away the proxy keeps the last state it knew: a rollout in progress goes on
serving its cohort, a rolled-back one stays rolled back. A rollback asked of this proxy's
admin API applies here at once, before Redis is even asked; until it is stored, this proxy
holds it against whatever Redis says and writes it as soon as Redis answers. A rollback
never waits for the network.

On a Redis Cluster the message comes through the cluster client's pub/sub, which listens on
the node that owns the channel's slot (a message published on any node reaches every node).
That client does not refresh its map of the cluster by itself (it picks a dead master again
after a failover, and fails outright before its first command), so there each subscription
is preceded by a read, which refreshes the map when it is stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time

from proxy.config.rollout import RolloutConfig
from proxy.metrics import RolloutMetrics
from proxy.recording.connect import REDIS_ERRORS, RedisClient, is_cluster_url, open_redis
from proxy.rollout.state import Action, Phase, RolloutState, TransitionError, apply, dark
from proxy.rollout.store import RolloutStore, StaleState, parse_state
from proxy.tasks import TaskSet

logger = logging.getLogger(__name__)

__all__ = ["RolloutFollower", "proxy_actor"]

_FIRST_READ_TIMEOUT_S = 1.0
_MAX_BACKOFF_S = 2.0


def proxy_actor() -> str:
    """``admin:<host>:<pid>``: which proxy a change through its admin API came from."""
    return f"admin:{socket.gethostname()}:{os.getpid()}"


class RolloutFollower:
    """The rollout state this process applies, and its admin API's rollback."""

    def __init__(self, campaign: str, config: RolloutConfig, metrics: RolloutMetrics) -> None:
        self.campaign = campaign
        self.config = config
        self.metrics = metrics
        self.state: RolloutState = dark(campaign, config.candidate)
        self.synced_at: float | None = None  # when Redis last answered a read
        self.store: RolloutStore | None = None
        # A rollback asked here and not stored yet: held against Redis until it is.
        self.pending_rollback: RolloutState | None = None
        self._client: RedisClient | None = None
        self._cluster = False
        self._tasks = TaskSet("rollout")
        self._wake = asyncio.Event()
        self._show(self.state)

    @property
    def share(self) -> float:
        state = self.state
        return state.share if state.serving else 0.0

    async def start(self, redis_url: str | None) -> None:
        """Read the state once (briefly: a proxy must start without Redis), then follow it."""
        if redis_url is None:
            logger.warning("rollout: no Redis to follow; the candidate serves nobody")
            return
        self._client = open_redis(redis_url, socket_timeout=2.0, socket_connect_timeout=1.0)
        self._cluster = is_cluster_url(redis_url)
        self.store = RolloutStore(self._client, self.campaign, self.config)
        with contextlib.suppress(*REDIS_ERRORS, OSError, TimeoutError):
            async with asyncio.timeout(_FIRST_READ_TIMEOUT_S):
                await self._sync()
        self._tasks.spawn(self._follow(), name="rollout-follower")

    async def stop(self) -> None:
        await self._tasks.cancel()  # the follower never ends by itself
        if self._client is not None:
            await self._client.aclose()

    def adopt(self, state: RolloutState) -> bool:
        """Apply ``state`` if it is newer than the one applied, unless a local rollback is
        waiting to be stored. Returns whether it was applied."""
        if self.pending_rollback is not None or state.version <= self.state.version:
            return False
        before = self.state
        self.state = state
        self._show(state)
        if state.phase != before.phase or state.step != before.step:
            self.metrics.transitions.labels(state.phase.value, state.cause).inc()
            logger.warning(
                "rollout %s: %s step %d (share %.4g), was %s; by %s: %s",
                self.campaign, state.phase, state.step + 1, state.share, before.phase,
                state.actor, state.reason,
            )  # fmt: skip
        return True

    def rollback_locally(self, actor: str, reason: str) -> RolloutState:
        """Stop serving the candidate here, now; the follower stores it when Redis answers.
        Raises :class:`~proxy.rollout.state.TransitionError` when nothing is being served."""
        rolled, _ = apply(self.state, Action.ROLLBACK, self.config, actor=actor, reason=reason)
        self.state = rolled
        self.pending_rollback = rolled
        self._show(rolled)
        self.metrics.transitions.labels(Phase.ROLLED_BACK.value, "local").inc()
        logger.warning("rollout %s: rolled back here by %s: %s", self.campaign, actor, reason)
        self._wake.set()
        return rolled

    async def store_pending(self) -> None:
        """Store a local rollback now, within 2 s; raises Redis's error when it cannot."""
        if self.pending_rollback is not None and self.store is not None:
            async with asyncio.timeout(2.0):
                await self._store_rollback(self.pending_rollback)

    async def _sync(self) -> None:
        assert self.store is not None
        if self.pending_rollback is not None:
            await self._store_rollback(self.pending_rollback)
        raw = await self.store.client.hget(self.store.key, "state")
        self.synced_at = time.time()
        if raw is None and self.state.version > 0 and self.pending_rollback is None:
            self._lost()
            return
        self.adopt(parse_state(raw, self.campaign, self.config.candidate))

    def _lost(self) -> None:
        """The stored state is gone (a Redis that restarted empty, a deleted key): nobody can
        see or steer this rollout any more, so the candidate serves nobody until it is
        started again. Versions start over from there."""
        logger.warning(
            "rollout %s: its state is gone from Redis (was %s, version %d); the candidate "
            "serves nobody until the rollout is started again",
            self.campaign, self.state.phase, self.state.version,
        )  # fmt: skip
        self.state = dark(self.campaign, self.config.candidate)
        self._show(self.state)
        self.metrics.transitions.labels(Phase.DARK.value, "lost").inc()

    async def _store_rollback(self, rolled: RolloutState) -> None:
        """Write a local rollback over whatever Redis holds now (it wins over any step)."""
        assert self.store is not None
        stored = await self.store.read()
        try:
            if stored.serving:
                await self.store.act(
                    Action.ROLLBACK, actor=rolled.actor, reason=rolled.reason, expected=stored
                )
        except (StaleState, TransitionError):
            return  # changed meanwhile: decide again on the next pass
        self.pending_rollback = None
        # Whatever is stored now is adopted: it is the rollback, or a newer change.
        self.state = rolled.model_copy(update={"version": -1})

    async def _follow(self) -> None:
        """Listen for published states and reread every ``sync_interval_s``; on any Redis
        error keep the last state, count it, and try again with a short backoff."""
        assert self._client is not None
        assert self.store is not None
        campaign, candidate = self.campaign, self.config.candidate
        interval = self.config.sync_interval_s
        failures = 0
        while True:
            pubsub = None
            try:
                if self._cluster:
                    await self._sync()  # refreshes the cluster's map the pub/sub picks from
                pubsub = self._client.pubsub(ignore_subscribe_messages=True)
                await pubsub.subscribe(self.store.channel)
                await self._sync()
                failures = 0
                next_read = time.monotonic() + interval
                while True:
                    wait = max(0.0, next_read - time.monotonic())
                    message = await pubsub.get_message(timeout=min(wait, interval))
                    if message is not None and message.get("type") == "message":
                        self.adopt(parse_state(message["data"], campaign, candidate))
                    if self._wake.is_set() or time.monotonic() >= next_read:
                        self._wake.clear()
                        await self._sync()
                        next_read = time.monotonic() + interval
            except (*REDIS_ERRORS, OSError, TimeoutError) as exc:
                failures += 1
                self.metrics.sync_errors.inc()
                if failures == 1:
                    logger.warning(
                        "rollout %s: cannot read its state from Redis (%s); keeping %s",
                        self.campaign, type(exc).__name__, self.state.phase,
                    )  # fmt: skip
                await self._sleep(min(_MAX_BACKOFF_S, 0.1 * 2**failures, interval))
            finally:
                if pubsub is not None:
                    with contextlib.suppress(*REDIS_ERRORS, OSError, TimeoutError):
                        await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        self._wake.clear()

    def _show(self, state: RolloutState) -> None:
        metrics = self.metrics
        for phase in metrics.PHASES:
            metrics.phase.labels(phase).set(1 if phase == state.phase.value else 0)
        metrics.step.set(state.step + 1 if state.serving else 0)
        metrics.share.set(state.share if state.serving else 0.0)
        metrics.version.set(state.version)
