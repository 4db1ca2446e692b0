"""Realistic pair records, with the ground truth of every pair.

Each pair draws a question from the content bank (:mod:`proxy.sim.answers`), so questions
recur across a campaign as popular prompts do, and every side words its answer afresh: the
incumbent and its replica in the incumbent's style, the candidate in its own. What the
candidate *says* (right, one fact wrong, a different answer, a refusal, a defensible variant)
is decided by :class:`~loadtests.realistic.scenario.CandidateBehaviour` and reported in a
:class:`Truth` per pair, so a calibration can count the wrong answers it should have caught.

Randomness is split into one stream per pair and side (``seed``, pair index, role): the same
seed gives the same traffic, incumbent and replica whatever the candidate's knobs, so two
scenarios differ only where the candidate does (common random numbers). Every side starts
with a fixed number of draws for its decisions before any wording, for the same reason.
"""

from __future__ import annotations

import bisect
import copy
import itertools
import json
import random
from dataclasses import dataclass
from typing import Any, TypeVar

from loadtests.realistic.latency import Timing, side_z, timing
from loadtests.realistic.scenario import CandidateBehaviour, Scenario
from loadtests.realistic.sides import answered, rejected, transient
from proxy.recording.schema import PairRecord, RequestInfo, Role, Side
from proxy.sim.answers import (
    STYLES,
    Content,
    Item,
    Kind,
    Mutation,
    Refusal,
    Style,
    gross,
    items,
    noise,
    subtle,
    write,
)
from proxy.sim.text import estimate_tokens

__all__ = ["Truth", "generate", "generate_with_truth"]

T = TypeVar("T")
ROUTE = "/v1/chat/completions"
WRONG = frozenset({"subtle", "gross", "refusal"})
_SYSTEM = {
    "chat": "You are a helpful assistant.",
    "search": "Answer briefly and precisely. Use the tools when they help.",
    "support": "You are a friendly customer support assistant for our store.",
}
_HEADERS = {"content-type": "application/json", "user-agent": "OpenAI/Python 1.54.0"}


@dataclass(frozen=True)
class Truth:
    """What really happened in one pair.

    ``incumbent``: ``ok``, ``refused`` (a refusable prompt), ``http400`` or ``transient``.
    ``replica``: the same plus ``noise``; ``None`` when the pair has no replica.
    ``candidate``: ``ok``, ``noise`` (defensibly different), ``subtle`` (one fact, leaf or
    argument wrong), ``gross`` (another answer or the wrong tool), ``refusal`` (refused an
    ordinary prompt), ``refused`` (refused a refusable prompt, as it should), ``http400`` or
    ``transient``. ``change`` and ``detail`` say what a mutation changed (``number``,
    ``swap``, ``leaf``, ``wrong_tool``, ``rounding``, ...); ``stalled`` marks a tail stall.
    """

    pair_id: str
    kind: Kind
    item: str
    tenant: str
    feature: str
    streamed: bool
    incumbent: str
    replica: str | None
    candidate: str
    style: Style
    change: str | None = None
    detail: str | None = None
    stalled: bool = False

    @property
    def wrong(self) -> bool:
        """The candidate's answer is substantively wrong (what a gate should catch)."""
        return self.candidate in WRONG


def _weighted(pairs: tuple[tuple[T, float], ...]) -> tuple[list[T], list[float]]:
    values = [v for v, _ in pairs]
    return values, list(itertools.accumulate(w for _, w in pairs))


def _pick(rng: random.Random, table: tuple[list[T], list[float]]) -> T:
    values, cumulative = table
    index = bisect.bisect(cumulative, rng.random() * cumulative[-1])
    return values[min(index, len(values) - 1)]


_PROMPT_TOKENS: dict[tuple[str, str], int] = {}


def _prompt_tokens(item: Item, feature: str) -> int:
    """Tokens of the system and user messages (3 each for framing) and the tools' schemas."""
    key = (item.key, feature)
    if key not in _PROMPT_TOKENS:
        tools = estimate_tokens(json.dumps(item.tools)) if item.tools else 0
        text = estimate_tokens(_SYSTEM[feature]) + estimate_tokens(item.question)
        _PROMPT_TOKENS[key] = text + 6 + tools
    return _PROMPT_TOKENS[key]


def _body(scenario: Scenario, item: Item, feature: str, stream: bool) -> dict[str, Any]:
    messages = [
        {"role": "system", "content": _SYSTEM[feature]},
        {"role": "user", "content": item.question},
    ]
    body: dict[str, Any] = {"model": scenario.incumbent_model, "messages": messages}
    body["stream"] = stream
    if stream:
        body["stream_options"] = {"include_usage": True}
    if item.tools:
        body["tools"] = copy.deepcopy(list(item.tools))
        body["tool_choice"] = "auto"
    if item.response_format is not None:
        body["response_format"] = dict(item.response_format)
    return body


@dataclass(frozen=True)
class _Request:
    """What every side of one pair shares."""

    scenario: Scenario
    item: Item
    stream: bool
    feature: str
    z_total: float
    z_ttft: float
    created: int

    def timing(
        self, rng: random.Random, candidate: CandidateBehaviour | None = None, u_tail: float = 1.0
    ) -> Timing:
        own_total, own_ttft = rng.gauss(0.0, 1.0), rng.gauss(0.0, 1.0)
        z_total, z_ttft = side_z(self.z_total, own_total), side_z(self.z_ttft, own_ttft)
        return timing(self.scenario, self.stream, z_total, z_ttft, candidate, u_tail)

    def answer(
        self, role: Role, name: str, model: str, content: Content, style: Style,
        rng: random.Random, when: Timing,
    ) -> Side:  # fmt: skip
        written = write(content, style, rng)
        tokens = _prompt_tokens(self.item, self.feature)
        return answered(role, name, model, written, self.stream, when, tokens, rng, self.created)


def _incumbent(request: _Request, state: str, rng: random.Random) -> Side:
    s = request.scenario
    when = request.timing(rng)
    if state == "http400":
        return rejected(Role.INCUMBENT, s.incumbent_name, s.incumbent_model, rng)
    if state == "transient":
        return transient(
            Role.INCUMBENT, s.incumbent_name, s.incumbent_model, rng, s.latency_median_ms
        )
    answer = request.item.answer
    return request.answer(
        Role.INCUMBENT, s.incumbent_name, s.incumbent_model, answer, "same", rng, when
    )


def _replica(request: _Request, incumbent: str, rng: random.Random) -> tuple[Side, str]:
    s, item = request.scenario, request.item
    when = request.timing(rng)
    u_fail, u_noise = rng.random(), rng.random()
    if incumbent == "http400":
        return rejected(Role.REPLICA, "replica", s.incumbent_model, rng), "http400"
    if u_fail < s.incumbent_transient_rate:
        side = transient(Role.REPLICA, "replica", s.incumbent_model, rng, s.latency_median_ms)
        return side, "transient"
    content, state = item.answer, "refused" if item.kind == "refusable" else "ok"
    if state == "ok" and u_noise < s.noise_content_rate:
        content, state = noise(item, rng).content, "noise"
    side = request.answer(Role.REPLICA, "replica", s.incumbent_model, content, "same", rng, when)
    return side, state


def _decide(
    request: _Request, incumbent: str, tags: dict[str, str], draws: list[float],
    rng: random.Random,
) -> tuple[str, Content, Mutation | None]:  # fmt: skip
    """What the candidate says in an answerable pair: its state, content and mutation.
    ``draws`` are three uniforms: wrong or refusing, subtle or gross, noise."""
    s, item = request.scenario, request.item
    c = s.candidate
    u_wrong, u_subtle, u_noise = draws
    comparable = incumbent == "ok" and all(tags.get(k) == v for k, v in c.segment)
    mutation: Mutation | None = None
    if comparable and c.broken_kind == item.kind:
        state = "subtle" if u_subtle < c.subtle_share else "gross"
    elif comparable and u_wrong < c.refusal_increase:
        return "refusal", Refusal(), None
    elif comparable and u_wrong < c.refusal_increase + c.substantive_error_rate:
        state = "subtle" if u_subtle < c.subtle_share else "gross"
    elif u_noise < s.noise_content_rate:
        mutation = noise(item, rng)
        return "noise", mutation.content, mutation
    else:
        return "ok", item.answer, None
    mutation = subtle(item, rng) if state == "subtle" else gross(item, rng)
    return state, mutation.content, mutation


def _candidate(
    request: _Request, incumbent: str, tags: dict[str, str], rng: random.Random
) -> tuple[Side, str, Style, Mutation | None, bool]:
    s, c = request.scenario, request.scenario.candidate
    draws = [rng.random() for _ in range(6)]  # fail, tail, wrong, subtle, noise, style
    u_fail, u_tail, u_style = draws[0], draws[1], draws[5]
    style: Style = STYLES[int(u_style * len(STYLES))] if c.style == "mixed" else c.style
    when = request.timing(rng, c, u_tail)
    if incumbent == "http400" and not c.answers_when_incumbent_400:
        return rejected(Role.CANDIDATE, c.name, c.model, rng), "http400", style, None, False
    if u_fail < s.candidate_error_rate:
        side = transient(Role.CANDIDATE, c.name, c.model, rng, s.latency_median_ms)
        return side, "transient", style, None, False
    if request.item.kind == "refusable":
        state, content, mutation = "refused", request.item.answer, None
    else:
        state, content, mutation = _decide(request, incumbent, tags, draws[2:5], rng)
    side = request.answer(Role.CANDIDATE, c.name, c.model, content, style, rng, when)
    return side, state, style, mutation, when.stalled


def _pair(
    scenario: Scenario,
    seed: int,
    index: int,
    tables: tuple[Any, Any, Any],
) -> tuple[PairRecord, Truth]:
    key = f"realistic:{seed}:{index}"
    traffic = random.Random(f"{key}:traffic")
    kinds, tenants, features = tables
    kind: Kind = _pick(traffic, kinds)
    pool = items(kind)
    item = pool[traffic.randrange(len(pool))]
    stream = traffic.random() < scenario.stream_share
    tags = {"tenant": _pick(traffic, tenants), "feature": _pick(traffic, features)}
    u_incumbent, u_replica = traffic.random(), traffic.random()
    z_total, z_ttft = traffic.gauss(0.0, 1.0), traffic.gauss(0.0, 1.0)
    timestamp = scenario.start + index * scenario.interval_s
    request = _Request(scenario, item, stream, tags["feature"], z_total, z_ttft, int(timestamp))
    incumbent = "refused" if kind == "refusable" else "ok"
    if u_incumbent < scenario.incumbent_http400_rate:
        incumbent = "http400"
    elif u_incumbent < scenario.incumbent_http400_rate + scenario.incumbent_transient_rate:
        incumbent = "transient"
    incumbent_side = _incumbent(request, incumbent, random.Random(f"{key}:incumbent"))
    candidate, state, style, mutation, stalled = _candidate(
        request, incumbent, tags, random.Random(f"{key}:candidate")
    )
    mirrors = [candidate]
    replica: str | None = None
    if u_replica < scenario.replica_rate:
        replica_side, replica = _replica(request, incumbent, random.Random(f"{key}:replica"))
        mirrors.append(replica_side)
    pair_id = f"{seed:04d}-{index:06d}"
    record = PairRecord(
        pair_id=pair_id,
        campaign=scenario.campaign,
        timestamp=timestamp,
        sample_rate=1.0,
        route=ROUTE,
        method="POST",
        request=RequestInfo(
            headers=dict(_HEADERS),
            body=_body(scenario, item, tags["feature"], stream),
            stream=stream,
            model=scenario.incumbent_model,
            tags=tags,
        ),
        incumbent=incumbent_side,
        mirrors=mirrors,
    )
    truth = Truth(
        pair_id=pair_id,
        kind=kind,
        item=item.key,
        tenant=tags["tenant"],
        feature=tags["feature"],
        streamed=stream,
        incumbent=incumbent,
        replica=replica,
        candidate=state,
        style=style,
        change=mutation.what if mutation else None,
        detail=mutation.detail if mutation else None,
        stalled=stalled,
    )
    return record, truth


def generate_with_truth(scenario: Scenario, seed: int) -> tuple[list[PairRecord], list[Truth]]:
    """``scenario.pairs`` records reproducible from ``seed``, and the truth of each, in order."""
    tables = (
        _weighted(scenario.mix),
        _weighted(scenario.tenants),
        _weighted(scenario.features),
    )
    records: list[PairRecord] = []
    truths: list[Truth] = []
    for index in range(scenario.pairs):
        record, truth = _pair(scenario, seed, index, tables)
        records.append(record)
        truths.append(truth)
    return records, truths


def generate(scenario: Scenario, seed: int) -> list[PairRecord]:
    """The records of :func:`generate_with_truth`, without the truth."""
    return generate_with_truth(scenario, seed)[0]
