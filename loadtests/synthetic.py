"""Synthetic campaigns from the simulated model servers, without sockets or Redis.

Each side of a pair is what :mod:`proxy.sim.server` would have answered: the request goes through
the simulator's own wire builder (:func:`proxy.sim.wire.chat`) with a
:class:`~proxy.sim.profile.SimProfile`, so wording, refusals, usage and the number of paced
stream events are exactly the server's, and the timing follows the server's pacing rule
(headers after ``latency_ms`` plus an exponential jitter, then one ``token_interval_ms`` per
token-bearing event). Skipping HTTP makes a 3,000-pair campaign take about a second, which is
what lets the calibration run hundreds of them.

Two things the server has no knob for are added here, both per call:

* ``branch_rate``: the chance that sampling takes the other branch and the answer is
  substantively different (the simulator's divergent wording), on the incumbent and its replica
  too. This is the incumbent's own nondeterminism, the noise floor the gate subtracts; without
  it rewording alone never crosses the divergence threshold and the floor would be zero.
* ``slow_share``/``slow_factor``: a share of calls that take ``slow_factor`` times longer, to
  model a regression that fattens the tail without moving the median.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from proxy.recording.schema import Choice, Output, PairRecord, RequestInfo, Role, Side
from proxy.sim.profile import SimProfile
from proxy.sim.text import stable_fraction
from proxy.sim.wire import Call, chat

__all__ = ["PROMPTS", "Behaviour", "CampaignSpec", "generate_pairs", "prompt_tokens_mean"]

_TOPICS = (
    "latency", "memory usage", "error rate", "the query plan", "cache hit rate", "test coverage",
    "timeout handling", "connection reuse", "batch size", "index bloat", "retry storms",
    "schema changes",
)  # fmt: skip
_SYSTEMS = (
    "python service", "redis cache", "kubernetes cluster", "sql database", "api library",
    "proxy server", "data pipeline", "test suite", "network load balancer", "records table",
)  # fmt: skip
_SITUATIONS = (
    "traffic spikes", "tests fail", "the index grows", "a timeout fires", "load doubles",
    "memory runs low", "a deploy rolls out", "the cache is cold", "cpu saturates",
    "a bug report arrives",
)  # fmt: skip
_TEMPLATES = (
    "How do I improve {topic} in my {system} when {situation}?",
    "Explain why {topic} gets worse in a {system} after {situation}.",
    "What should I check about {topic} in the {system} once {situation}?",
)
PROMPTS = tuple(
    t.format(topic=topic, system=system, situation=situation)
    for t in _TEMPLATES
    for topic in _TOPICS
    for system in _SYSTEMS
    for situation in _SITUATIONS
)
_NORMAL = statistics.NormalDist()


def prompt_tokens_mean(prompt: str, median: float = 60.0, sigma: float = 0.5) -> int:
    """Answer length in tokens, fixed per prompt and log-normal across prompts: real traffic
    mixes one-line answers with long ones, which is what makes latency quantiles noisy."""
    z = _NORMAL.inv_cdf(min(max(stable_fraction(prompt, "answer-length"), 1e-9), 1 - 1e-9))
    return max(8, round(median * math.exp(sigma * z)))


@dataclass(frozen=True)
class Behaviour:
    """One upstream: a simulator profile plus the per-call effects described above."""

    profile: SimProfile
    branch_rate: float = 0.0
    slow_share: float = 0.0
    slow_factor: float = 1.0

    def scaled(self, factor: float, name: str | None = None) -> Behaviour:
        """The same upstream ``factor`` times slower at every step: every quantile scales."""
        p = self.profile
        profile = p.model_copy(
            update={
                "name": name or p.name,
                "latency_ms": p.latency_ms * factor,
                "latency_jitter_ms": p.latency_jitter_ms * factor,
                "token_interval_ms": p.token_interval_ms * factor,
            }
        )
        return Behaviour(profile, self.branch_rate, self.slow_share, self.slow_factor)


@dataclass(frozen=True)
class CampaignSpec:
    """A campaign: the incumbent, one candidate, and the share of pairs with a replica."""

    incumbent: Behaviour
    candidate: Behaviour
    pairs: int
    noise_rate: float = 0.5
    candidate_name: str = "cand"
    campaign: str = "calibration"
    route: str = "/v1/chat/completions"
    start: float = 1_700_000_000.0
    interval_s: float = 0.5
    extra: dict[str, Any] = field(default_factory=dict)


def _side(
    behaviour: Behaviour, role: Role, name: str, body: dict[str, Any], rng: random.Random
) -> Side:
    p = behaviour.profile
    delay = p.latency_ms + (rng.expovariate(1 / p.latency_jitter_ms) if p.latency_jitter_ms else 0)
    if rng.random() < p.error_rate:  # the server answers error_status before any token
        error = {"error": {"message": "simulated failure", "type": "server_error"}}
        return Side(
            role=role, name=name, model=p.model, status=p.error_status, latency_ms=delay,
            ttft_ms=delay, output=Output(body=error),
        )  # fmt: skip
    prompt = body["messages"][-1]["content"]
    update: dict[str, Any] = {"output_tokens_mean": prompt_tokens_mean(prompt)}
    if behaviour.branch_rate and rng.random() < behaviour.branch_rate:
        update["divergence_rate"] = 1.0
    reply = chat(Call(p.model_copy(update=update), rng, body))
    events = reply.events or []
    paced = sum(1 for event in events if event[2])
    total = delay + max(paced - 1, 0) * p.token_interval_ms
    if behaviour.slow_share and rng.random() < behaviour.slow_share:
        total *= behaviour.slow_factor
    usage = next(
        (e[1]["usage"] for e in reversed(events) if isinstance(e[1], dict) and e[1].get("usage")),
        None,
    )
    answer = reply.answers[0]
    choice = Choice(text=answer.content or "", refusal=answer.refusal, finish_reason=answer.finish)
    output = Output(streamed=True, choices=[choice], usage=usage, response_model=p.model)
    return Side(
        role=role, name=name, model=p.model, status=200, latency_ms=total, ttft_ms=delay,
        output=output,
    )  # fmt: skip


def generate_pairs(spec: CampaignSpec, seed: int) -> Iterator[PairRecord]:
    """``spec.pairs`` pair records, reproducible from ``seed``: incumbent, candidate and, for a
    ``noise_rate`` share of pairs, a replica (the incumbent called again)."""
    rng = random.Random(f"calibration:{seed}")
    incumbent_name = spec.incumbent.profile.name
    for i in range(spec.pairs):
        prompt = PROMPTS[rng.randrange(len(PROMPTS))]
        body = {
            "model": spec.incumbent.profile.model,
            "messages": [{"role": "user", "content": prompt}],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        incumbent = _side(spec.incumbent, Role.INCUMBENT, incumbent_name, body, rng)
        mirrors = [
            _side(spec.candidate, Role.CANDIDATE, spec.candidate_name, body, rng),
        ]
        if rng.random() < spec.noise_rate:
            mirrors.append(_side(spec.incumbent, Role.REPLICA, "replica", body, rng))
        yield PairRecord(
            pair_id=f"{seed:04d}-{i:06d}",
            campaign=spec.campaign,
            timestamp=spec.start + i * spec.interval_s,
            route=spec.route,
            method="POST",
            request=RequestInfo(body=body, stream=True, model=spec.incumbent.profile.model),
            incumbent=incumbent,
            mirrors=mirrors,
        )
