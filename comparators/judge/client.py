"""One judge call: the prompt to an OpenAI-compatible chat endpoint, the JSON back.

A call is asked for JSON by ``response_format`` (a JSON schema, :data:`RESPONSE_SCHEMA`),
at temperature 0, and gets one more try when it fails or its reply is malformed; then it is
given up as :class:`JudgeCallFailed` with ``kind`` ``failed`` or ``malformed``, never guessed.

Replies are cached in Redis under (pair, mirror, order, judge model, prompt version): scoring
a campaign again, or a worker taking over another's pending pairs, never pays twice. Only
parsed replies are cached; a failure is tried afresh next time. The cache is a hash per day
the pairs were made (:func:`~proxy.recording.keys.judge_cache_key`), each expiring
:data:`CACHE_TTL_S` after its last write: a campaign judging for months must not keep every
reply it ever got. Judging a pair again after that pays again.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any, Literal

import openai
import orjson

from comparators.judge.verdict import (
    RESPONSE_SCHEMA,
    JudgeAnswer,
    MalformedAnswer,
    Order,
    parse_answer,
)
from comparators.pricing.prices import TokenUsage, parse_usage
from proxy.config.judge import JudgeConfig
from proxy.recording.keys import judge_cache_key
from proxy.recording.setup import RedisClient

__all__ = ["Asked", "JudgeCallFailed", "JudgeClient"]

logger = logging.getLogger(__name__)

ATTEMPTS = 2  # the first try and one retry
CACHE_TTL_S = 7 * 86_400  # a day's cached replies live this long after its last write


class JudgeCallFailed(Exception):
    """The judge gave no usable reply in :data:`ATTEMPTS` tries; ``kind`` is ``failed`` (no
    reply: connection, timeout, HTTP error) or ``malformed`` (a reply not in the schema)."""

    def __init__(self, kind: Literal["failed", "malformed"], message: str, usage: TokenUsage):
        super().__init__(message)
        self.kind = kind
        self.usage = usage  # tokens spent on the tries that did get a reply


@dataclass(frozen=True, slots=True)
class Asked:
    """One order's reply, and what it cost to get (nothing when it came from the cache)."""

    answer: JudgeAnswer
    usage: TokenUsage
    calls: int
    cached: bool


def _add(one: TokenUsage, two: TokenUsage | None) -> TokenUsage:
    if two is None:
        return one
    return TokenUsage(one.prompt + two.prompt, one.completion + two.completion)


class JudgeClient:
    """Asks the configured judge, through the official ``openai`` SDK (its retries off: the
    one retry here is all there is, so a dead judge costs two timeouts at most)."""

    def __init__(
        self,
        config: JudgeConfig,
        client: RedisClient,
        campaign: str,
        prompt_version: str,
    ) -> None:
        self.config = config
        self.redis = client
        self.campaign = campaign
        self.prompt_version = prompt_version
        self.api = openai.AsyncOpenAI(
            base_url=config.url,
            api_key="darklaunch-no-key",  # ``headers`` authenticate (Authorization, api-key)
            default_headers=config.headers,
            timeout=config.timeout_s,
            max_retries=0,
        )

    def cache_field(self, pair_id: str, mirror: str, order: Order) -> str:
        key = f"{pair_id}\0{mirror}\0{order}\0{self.config.model}\0{self.prompt_version}"
        return hashlib.sha256(key.encode()).hexdigest()[:32]

    async def ask(
        self, prompt: str, pair_id: str, mirror: str, order: Order, *, made_at: float
    ) -> Asked:
        """The judge's answer in one order, from the cache of the day the pair was made at
        (its ``timestamp``) when it is there."""
        cache = judge_cache_key(self.campaign, int(made_at // 86_400))
        field = self.cache_field(pair_id, mirror, order)
        hit: Any = await self.redis.hget(cache, field)
        if hit is not None:
            try:
                return Asked(parse_answer(hit.decode()), TokenUsage(0, 0), 0, True)
            except MalformedAnswer:
                pass  # a cache entry we cannot read is asked again
        spent = TokenUsage(0, 0)
        problem: tuple[Literal["failed", "malformed"], str] = ("failed", "")
        for attempt in range(1, ATTEMPTS + 1):
            try:
                reply = await self.api.chat.completions.create(
                    model=self.config.model,
                    messages=[{"role": "user", "content": prompt}],
                    temperature=0,
                    response_format={
                        "type": "json_schema",
                        "json_schema": {
                            "name": "verdict",
                            "schema": RESPONSE_SCHEMA,
                            "strict": True,
                        },
                    },
                )
            except (TimeoutError, openai.APIError) as exc:
                problem = ("failed", f"{type(exc).__name__}: {exc}")
                continue
            usage = reply.usage.model_dump() if reply.usage is not None else None
            spent = _add(spent, parse_usage(usage))
            content = reply.choices[0].message.content if reply.choices else None
            try:
                answer = parse_answer(content)
            except MalformedAnswer as exc:
                problem = ("malformed", str(exc))
                continue
            pipe: Any = self.redis.pipeline(transaction=False)
            pipe.hset(cache, field, orjson.dumps(answer.model_dump()))
            pipe.expire(cache, CACHE_TTL_S)
            await pipe.execute()
            return Asked(answer, spent, attempt, False)
        raise JudgeCallFailed(problem[0], problem[1], spent)

    async def close(self) -> None:
        await self.api.close()
