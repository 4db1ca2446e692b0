"""What the rollout tests share: a config with a rollout, a gate policy small pair counts can
PASS, and score records written to the real scores stream as the worker writes them."""

from __future__ import annotations

import itertools
import time
from typing import Any

import redis.asyncio as aioredis

from comparators.gate.policy import GatePolicy
from proxy.config.root import Config
from proxy.recording.keys import RECORD_FIELD, scores_key
from tests.comparators.score_factories import replica, score
from tests.conftest import make_config

CANDIDATE = "cand-a"
STEP_PAIRS = 30
# The gate's defaults with the checks off that need hundreds of pairs to PASS (paired rate
# differences, the changed-answer rate, the p95 and p99 latency ratios: a tail quantile is
# bounded only from 59 and 299 pairs) and no segments: what a step of STEP_PAIRS can prove is
# then the error rate (the guards' limit) and the median latency ratio.
LENIENT = GatePolicy(
    segments=False,
    max_excess_divergence=None,
    max_error_rate_increase=None,
    max_refusal_rate_increase=None,
    max_p95_latency_ratio=None,
    max_p99_latency_ratio=None,
)
_ids = itertools.count()


def rollout_section(**overrides: Any) -> dict[str, Any]:
    """Five steps of STEP_PAIRS pairs, held no time, and an error-rate guard of 10%."""
    section: dict[str, Any] = {
        "candidate": CANDIDATE,
        "steps": [0.01, 0.05, 0.25, 0.5, 1.0],
        "min_step_duration_s": 0,
        "min_step_pairs": STEP_PAIRS,
        "guards": {"max_error_rate": 0.1},
        "controller_interval_s": 0.05,
    }
    section.update(overrides)
    return section


def rollout_config(redis_url: str, campaign: str, **overrides: Any) -> Config:
    return make_config(
        "http://127.0.0.1:9",
        [
            {"name": CANDIDATE, "url": "http://127.0.0.1:9"},
            {"name": "cand-b", "url": "http://127.0.0.1:9"},
        ],
        recording={"redis_url": redis_url, "campaign": campaign},
        rollout=rollout_section(**overrides),
    )


async def write_scores(
    client: aioredis.Redis,
    campaign: str,
    n: int,
    *,
    errors: bool = False,
    mirror: str = CANDIDATE,
    timestamp: float | None = None,
    replicas: bool = True,
) -> None:
    """``n`` candidate score records (and a replica for each), appended to the scores stream
    in the worker's form: one entry per record, its JSON in the ``record`` field."""
    when = time.time() if timestamp is None else timestamp
    pipe: Any = client.pipeline(transaction=False)
    for _ in range(n):
        pair_id = f"p{next(_ids)}"
        records = [
            score(pair_id, campaign=campaign, mirror=mirror, mirror_error=errors, timestamp=when)
        ]
        if replicas:
            records.append(replica(pair_id, campaign=campaign, timestamp=when))
        for record in records:
            pipe.xadd(scores_key(campaign), {RECORD_FIELD: record.model_dump_json()})
    await pipe.execute()
