"""The LLM judge as a consumer of a campaign's pairs: the ``judge`` group, beside the
comparators' own, in the same ``darklaunch compare`` process.

Why a group of its own rather than one more comparator in the scoring loop: a judge call
takes a second where the comparators take a millisecond, so in one loop a slow or dead judge
would hold every score back. Here the comparators go on at their own pace, and the judge at
the pace of its ``max_concurrency``; more workers scale both. Its judgements go to their own
stream (``darklaunch:{C}:judgements``), written and acknowledged together for the entries
still pending for this consumer, by the comparators' script (:data:`WRITE_AND_ACK`): a pair is
judged once in effect, and a worker that dies mid-batch leaves its pairs to another.

Per (pair, mirror), candidates and replicas alike (the replicas are the judge's own noise
floor: a fair judge calls them ties or splits them evenly):

- a side that failed is ``unscored`` (an outcome; the gate's error checks count it), and so
  is a side answered in a format nothing can read (``Output.unscored``);
- outside the sample (``sample_rate`` by a stable hash, after ``min_per_segment`` pairs of
  each segment) nothing is written, and the miss is counted;
- past the hour's budget, ``budget``;
- else both orders are asked at once, each call under the concurrency limit, and combined
  (:func:`~comparators.judge.verdict.combine`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from comparators.base import side_failed, unscored_reason
from comparators.columns.segments import mirror_fields, request_kind
from comparators.consumer import Entry, GroupConsumer, WorkerStats
from comparators.judge.budget import SpendMeter
from comparators.judge.client import Asked, JudgeCallFailed, JudgeClient
from comparators.judge.metrics import JudgeMetrics
from comparators.judge.prompt import (
    JudgePrompt,
    render_answer,
    render_reference,
    render_request,
)
from comparators.judge.record import Judgement, JudgementStatus
from comparators.judge.verdict import combine
from comparators.pricing.prices import PriceTable, TokenUsage
from proxy.config.judge import JudgeConfig
from proxy.recording.keys import (
    JUDGE_GROUP,
    RECORD_FIELD_BYTES,
    Shard,
    judgements_key,
)
from proxy.recording.schema import PairRecord, Role, Side
from proxy.recording.setup import RedisClient

__all__ = ["JudgeWorker", "Segment", "sampled"]

# route, request kind, streamed, mirror: what min_per_segment counts per worker process
Segment = tuple[str, str, bool, str]

logger = logging.getLogger(__name__)

# How long a stopping judge waits for its cancelled calls to end before it leaves them.
STOP_GRACE_S = 1.0


def _discard(done: asyncio.Future[Any]) -> None:
    """Take a given-up batch's outcome, so that its error is never reported as unhandled."""
    if not done.cancelled():
        done.exception()


def sampled(pair_id: str, mirror: str, rate: float) -> bool:
    """A stable draw: the same (pair, mirror) is in or out of the sample on every worker."""
    digest = hashlib.blake2b(f"{pair_id}\0{mirror}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < rate


class JudgeWorker(GroupConsumer):
    """The ``judge`` group's consumer (see the module docstring)."""

    group = JUDGE_GROUP

    def __init__(
        self,
        client: RedisClient,
        campaign: str,
        config: JudgeConfig,
        prices: PriceTable,
        metrics: JudgeMetrics,
        *,
        shard: Shard = None,
        slots: asyncio.Semaphore | None = None,
        per_segment: Counter[Segment] | None = None,
        consumer: str | None = None,
        batch_size: int = 64,
        block_ms: int = 1000,
        claim_idle_s: float = 60.0,
        prompt: JudgePrompt | None = None,
    ) -> None:
        super().__init__(
            client,
            campaign,
            judgements_key(campaign, shard),
            shard=shard,
            consumer=consumer,
            batch_size=batch_size,
            block_ms=block_ms,
            claim_idle_s=claim_idle_s,
        )
        self.config = config
        self.metrics = metrics
        self.prompt = prompt or JudgePrompt.load(
            config.prompt, config.rubric, config.max_answer_chars
        )
        self.price = prices.lookup(config.model)
        self.judge = JudgeClient(config, client, campaign, self.prompt.version)
        self.spend = SpendMeter(client, campaign, config.max_usd_per_hour)
        # Shared by the consumers of every shard, so max_concurrency bounds the process.
        self.slots = slots if slots is not None else asyncio.Semaphore(config.max_concurrency)
        # Shared by the consumers of every shard too, so min_per_segment counts per process,
        # not per shard (N shards would judge N times the minimum).
        self.per_segment: Counter[Segment] = per_segment if per_segment is not None else Counter()

    async def run(self, *, once: bool = False, stop: asyncio.Event | None = None) -> WorkerStats:
        try:
            return await super().run(once=once, stop=stop)
        finally:
            await self.judge.close()

    async def _process(self, entries: Sequence[Entry]) -> None:
        if not entries:
            return
        ids: list[bytes] = []
        work: list[asyncio.Task[list[Judgement]]] = []
        for entry_id, fields in entries:
            self.stats.entries += 1
            try:
                record = PairRecord.model_validate_json(fields[RECORD_FIELD_BYTES])
            except (KeyError, ValidationError, ValueError):
                # The comparators' worker sets bad entries aside; the judge only skips them.
                self.stats.bad += 1
                record = None
            ids.append(entry_id)
            work.append(asyncio.ensure_future(self._judge_pair(record)))  # noqa: TID251
        judged = await self._unless_stopped(work)
        if judged is None:
            return
        batch = [
            (entry_id, [j.model_dump_json().encode() for j in judgements])
            for entry_id, judgements in zip(ids, judged, strict=True)
        ]
        written = await self._write(batch)
        for ok, judgements in zip(written, judged, strict=True):
            if not ok:
                self.stats.skipped_not_owned += 1
                continue
            self.stats.scored += 1
            for judgement in judgements:
                self._observe(judgement)

    async def _unless_stopped(
        self, work: list[asyncio.Task[list[Judgement]]]
    ) -> list[list[Judgement]] | None:
        """The batch's judgements, or ``None`` when the consumer is told to stop first.

        A judge that hangs must not hold up a worker that was told to stop: its calls can
        take ``timeout_s`` each, retried, queued behind ``max_concurrency``, minutes for one
        batch. A batch given up is neither written nor acknowledged, so it stays pending for
        this consumer name, judged again when it comes back (or by another consumer after
        ``claim_idle_s``); the reply cache keeps whatever was already paid for."""
        gathered = asyncio.gather(*work)
        stopping = asyncio.ensure_future(self.stopping.wait())  # noqa: TID251 - cancelled below
        finished = False
        try:
            await asyncio.wait((gathered, stopping), return_when=asyncio.FIRST_COMPLETED)
            finished = gathered.done()
        finally:
            stopping.cancel()
            if not gathered.done():
                # Whatever the batch ends with is not wanted, not even its error.
                gathered.add_done_callback(_discard)
                gathered.cancel()  # every call of the batch
                # Not waited out: redis-py 8 can lose a cancellation that lands mid-command
                # (tests/proxy/recording/test_redis_cancel.py), and a call that missed it would
                # hold the stop for its whole timeout. Nothing of the batch is written.
                await asyncio.wait((gathered,), timeout=STOP_GRACE_S)
        if not finished:
            logger.info(
                "%s: stopping; %d pairs left unjudged and pending", self.consumer, len(work)
            )
            return None
        return gathered.result()

    async def _judge_pair(self, record: PairRecord | None) -> list[Judgement]:
        if record is None:
            return []
        mirrors = [m for m in record.mirrors if m.role in (Role.CANDIDATE, Role.REPLICA)]
        results = await asyncio.gather(*(self._judge_mirror(record, m) for m in mirrors))
        return [r for r in results if r is not None]

    @staticmethod
    def _segment(record: PairRecord, mirror: Side) -> Segment:
        return (record.route, request_kind(record), record.request.stream, mirror.name)

    async def _judge_mirror(self, record: PairRecord, mirror: Side) -> Judgement | None:
        base = self._base(record, mirror)
        if side_failed(record.incumbent) or side_failed(mirror):
            return Judgement(**base, status="unscored", reason="a side failed: an outcome")
        if (unread := unscored_reason(record.incumbent, mirror)) is not None:
            # Nothing to show the judge: it would be asked to compare two blanks.
            return Judgement(**base, status="unscored", reason=f"unreadable answer: {unread}")
        segment = self._segment(record, mirror)
        if self.per_segment[segment] >= self.config.min_per_segment and not sampled(
            record.pair_id, mirror.name, self.config.sample_rate
        ):
            self.metrics.not_sampled.inc()
            return None
        self.per_segment[segment] += 1
        if not await self.spend.allowed():
            return Judgement(**base, status="budget", reason="judge.max_usd_per_hour reached")
        request = render_request(record)
        incumbent, candidate = render_answer(record.incumbent), render_answer(mirror)
        reference = render_reference(record.expected)
        first_prompt = self.prompt.render(request, incumbent, candidate, reference)
        second_prompt = self.prompt.render(request, candidate, incumbent, reference)
        asked = await asyncio.gather(
            self._ask(first_prompt, record, mirror.name, "incumbent_first"),
            self._ask(second_prompt, record, mirror.name, "mirror_first"),
            return_exceptions=True,
        )
        prompt_tokens = completion_tokens = calls = cached = 0
        failure: JudgeCallFailed | None = None
        answers = []
        for one in asked:
            if isinstance(one, BaseException) and not isinstance(one, JudgeCallFailed):
                raise one  # a bug, not a judge failure: the batch fails and is read again
            prompt_tokens += one.usage.prompt
            completion_tokens += one.usage.completion
            if isinstance(one, JudgeCallFailed):
                failure = failure or one
            else:
                answers.append(one.answer)
                calls += one.calls
                cached += int(one.cached)
        usage = TokenUsage(prompt_tokens, completion_tokens)
        cost = self.price.cost(usage) if self.price is not None else None
        if cost:
            await self.spend.add(cost)
            self.metrics.cost.inc(cost)
        spent: dict[str, Any] = {
            "calls": calls,
            "cached": cached,
            "input_tokens": usage.prompt,
            "output_tokens": usage.completion,
            "cost_usd": cost,
        }
        if failure is not None:
            status: JudgementStatus = failure.kind
            return Judgement(**base, **spent, status=status, reason=str(failure)[:300])
        combined = combine(answers[0], answers[1])
        return Judgement(
            **base,
            **spent,
            status="judged",
            verdict=combined.verdict,
            orders_agree=combined.orders_agree,
            first=combined.first,
            second=combined.second,
            mirror_refused=combined.mirror_refused,
            reason=combined.reason[:500],
        )

    async def _ask(self, prompt: str, record: PairRecord, mirror: str, order: Any) -> Asked:
        async with self.slots:
            try:
                asked = await self.judge.ask(
                    prompt, record.pair_id, mirror, order, made_at=record.timestamp
                )
            except JudgeCallFailed as exc:
                self.metrics.calls.labels(exc.kind).inc()
                raise
        self.metrics.calls.labels("cached" if asked.cached else "paid").inc()
        if asked.calls > 1:
            self.metrics.calls.labels("retried").inc()
        return asked

    def _base(self, record: PairRecord, mirror: Side) -> dict[str, Any]:
        return {
            **mirror_fields(record, mirror),
            "judge_model": self.config.model,
            "prompt_version": self.prompt.version,
        }

    def _observe(self, judgement: Judgement) -> None:
        role = judgement.role.value
        name = judgement.mirror if judgement.role is Role.CANDIDATE else "replica"
        self.metrics.judgements.labels(role, name, judgement.status).inc()
        if judgement.verdict is not None:
            self.metrics.verdicts.labels(role, name, judgement.verdict).inc()
