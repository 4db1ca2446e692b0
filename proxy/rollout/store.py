"""The rollout's state in Redis: read it, change it by compare and set, publish the change,
and keep every change in the audit stream.

A change is one Lua script, so the state, its audit entry and the message proxies listen for
are written together or not at all, and only over the version the writer read: a second
writer that read the same version gets :class:`StaleState` and must read again. Keys:
:func:`proxy.recording.keys.rollout_key` and its neighbours (``docs/records.md``).
"""

from __future__ import annotations

import time
import uuid
from typing import Any, cast

from pydantic import ValidationError

from proxy.config.rollout import RolloutConfig
from proxy.recording.connect import RedisClient
from proxy.recording.keys import (
    RECORD_FIELD,
    rollout_audit_key,
    rollout_channel,
    rollout_key,
    rollout_lock_key,
)
from proxy.rollout.state import Action, RolloutState, Transition, apply, dark

__all__ = ["AUDIT_MAX_LEN", "ControllerLock", "RolloutStore", "StaleState"]

AUDIT_MAX_LEN = 10_000

# KEYS: state hash, audit stream. ARGV: expected version, new version, state JSON, audit JSON,
# audit max length, channel. Returns 1 when written, else the version found.
_SET_STATE = f"""
local found = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if found ~= tonumber(ARGV[1]) then
  return {{0, found}}
end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'state', ARGV[3])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', '{RECORD_FIELD}', ARGV[4])
redis.call('PUBLISH', ARGV[6], ARGV[3])
return {{1, tonumber(ARGV[2])}}
"""

# KEYS: lock. ARGV: token, ttl ms. Extends the lock only if it is still ours.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class StaleState(RuntimeError):
    """The stored state changed since it was read: another writer got there first."""

    def __init__(self, expected: int, found: int) -> None:
        super().__init__(
            f"rollout state changed meanwhile: expected version {expected}, found {found}; "
            "read it again and decide again"
        )
        self.found = found


def parse_state(raw: bytes | str | None, campaign: str, candidate: str) -> RolloutState:
    """A stored state, or the dark state when none is stored (or it cannot be read, which is
    logged by the caller as the dark state's reason)."""
    if raw is None:
        return dark(campaign, candidate)
    try:
        return RolloutState.model_validate_json(raw)
    except ValidationError:
        return dark(campaign, candidate).model_copy(
            update={"reason": "the stored rollout state could not be read"}
        )


class RolloutStore:
    """One campaign's rollout state in one Redis, through a client the caller owns."""

    def __init__(self, client: RedisClient, campaign: str, config: RolloutConfig) -> None:
        self.client = client
        self.campaign = campaign
        self.config = config
        self.key = rollout_key(campaign)
        self.audit_key = rollout_audit_key(campaign)
        self.channel = rollout_channel(campaign)
        self._set = client.register_script(_SET_STATE)

    async def read(self) -> RolloutState:
        raw = await self.client.hget(self.key, "state")
        return parse_state(raw, self.campaign, self.config.candidate)

    async def write(self, expected_version: int, state: RolloutState, entry: Transition) -> None:
        """Store ``state`` over ``expected_version``; raises :class:`StaleState` otherwise."""
        written, found = await self._set(
            keys=[self.key, self.audit_key],
            args=[
                expected_version,
                state.version,
                state.model_dump_json(),
                entry.model_dump_json(),
                AUDIT_MAX_LEN,
                self.channel,
            ],
        )
        if not written:
            raise StaleState(expected_version, int(found))

    async def act(
        self,
        action: Action,
        *,
        actor: str,
        reason: str,
        cause: str = "manual",
        evidence: dict[str, Any] | None = None,
        expected: RolloutState | None = None,
    ) -> tuple[RolloutState, Transition]:
        """Apply ``action`` to the stored state (or to ``expected``, which must still be the
        stored one) and store the result. Raises
        :class:`~proxy.rollout.state.TransitionError` or :class:`StaleState`."""
        current = expected if expected is not None else await self.read()
        new, entry = apply(
            current, action, self.config, actor=actor, reason=reason, cause=cause,
            evidence=evidence,
        )  # fmt: skip
        await self.write(current.version, new, entry)
        return new, entry

    async def history(self, count: int = 100) -> list[Transition]:
        """The last ``count`` transitions, oldest first."""
        # A client without decode_responses: ids and fields are bytes.
        entries = cast(
            list[tuple[bytes, dict[bytes, bytes]]],
            await self.client.xrevrange(self.audit_key, count=count),
        )
        found: list[Transition] = []
        for _, fields in reversed(entries):
            payload = fields.get(RECORD_FIELD.encode())
            if payload is None:
                continue
            try:
                found.append(Transition.model_validate_json(payload))
            except ValidationError:
                continue
        return found


class ControllerLock:
    """``SET NX PX`` with a random token: at most one controller acts on a campaign. The lock
    expires ``ttl_s`` after its last renewal, so a controller that died is replaced."""

    def __init__(self, client: RedisClient, campaign: str, ttl_s: float) -> None:
        self.client = client
        self.key = rollout_lock_key(campaign)
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self.token = f"{uuid.uuid4().hex}:{time.time():.0f}"
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    async def acquire(self) -> bool:
        """Take the lock, or renew it if it is ours; ``False`` while another controller holds it."""
        if await self._renew(keys=[self.key], args=[self.token, self.ttl_ms]):
            return True
        return bool(await self.client.set(self.key, self.token, nx=True, px=self.ttl_ms))

    async def release(self) -> None:
        await self._release(keys=[self.key], args=[self.token])
