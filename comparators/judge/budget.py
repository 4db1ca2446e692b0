"""The judge's hard budget: ``max_usd_per_hour``, shared by every worker through Redis.

What the judge's calls cost in the current clock hour (UTC) is one Redis number
(``darklaunch:{C}:judge:spend:<hour>``), added to with ``INCRBYFLOAT`` after each judged pair
and kept two hours. A pair is judged only while that number is under the budget; calls in
flight when it is reached finish, so the overshoot is at most ``max_concurrency`` pairs' cost.
An unpriced judge model costs nothing here (its calls are counted, its cost unknown): price it
(``prices.models``) for the budget to hold.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from proxy.recording.keys import judge_spend_key
from proxy.recording.setup import RedisClient

__all__ = ["SpendMeter"]

_KEEP_S = 2 * 3600


class SpendMeter:
    def __init__(
        self,
        client: RedisClient,
        campaign: str,
        max_usd_per_hour: float | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.campaign = campaign
        self.limit = max_usd_per_hour
        self.clock = clock

    def _key(self) -> str:
        return judge_spend_key(self.campaign, int(self.clock() // 3600))

    async def spent(self) -> float:
        value: Any = await self.client.get(self._key())
        return float(value) if value is not None else 0.0

    async def allowed(self) -> bool:
        """Whether the hour's budget has room left."""
        return self.limit is None or await self.spent() < self.limit

    async def add(self, usd: float) -> None:
        if usd <= 0:
            return
        key = self._key()
        pipe: Any = self.client.pipeline(transaction=True)
        pipe.incrbyfloat(key, usd)
        pipe.expire(key, _KEEP_S)
        await pipe.execute()
