"""The realistic pair generator: records shaped as the proxy writes them, rates that match the
knobs, content that keeps (or breaks) facts as the ground truth says, latency knobs that move
the quantiles they claim to."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import statistics
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from loadtests.realistic import (
    CandidateBehaviour,
    Scenario,
    Truth,
    generate,
    generate_with_truth,
)
from proxy.recording.schema import PairRecord, Role, Side

SEED = 11
DIGITS = re.compile(r"\d[\d,]*(?:\.\d+)?")
NAME = re.compile(r"(?<=[a-z0-9,;)] )[A-Z][\w'-]*")
NEGATION = re.compile(r"\b(?:not|no|never|without)\b|n't", re.IGNORECASE)
Campaign = tuple[list[PairRecord], list[Truth]]


def facts(text: str) -> tuple[set[str], set[str], set[str]]:
    numbers = {d.replace(",", "").removesuffix(".00") for d in DIGITS.findall(text)}
    negations = {m.group(0).lower() for m in NEGATION.finditer(text)}
    return numbers, set(NAME.findall(text)), negations


def content(side: Side, kind: str) -> Any:
    """What a comparator of ``kind`` compares: fact sets, the JSON document or the calls."""
    assert side.output is not None
    if kind == "json":
        return json.loads(side.output.text.removeprefix("```json\n").removesuffix("\n```"))
    if kind == "tool_call":
        return [(c.name, json.loads(c.arguments)) for c in side.output.tool_calls]
    return facts(side.output.text)


def candidate(record: PairRecord) -> Side:
    return next(m for m in record.mirrors if m.role is Role.CANDIDATE)


def replica(record: PairRecord) -> Side | None:
    return next((m for m in record.mirrors if m.role is Role.REPLICA), None)


def within(count: int, n: int, p: float, sigmas: float = 4.0) -> bool:
    """``count`` of ``n`` is a plausible draw of a binomial with rate ``p``."""
    return abs(count - n * p) <= sigmas * math.sqrt(n * p * (1 - p)) + 1


@pytest.fixture(scope="module")
def make() -> Callable[..., Campaign]:
    cache: dict[Any, Campaign] = {}

    def build(seed: int = SEED, **candidate: Any) -> Campaign:
        key = (seed, tuple(sorted(candidate.items())))
        if key not in cache:
            cache[key] = generate_with_truth(
                Scenario(candidate=CandidateBehaviour(**candidate)), seed
            )
        return cache[key]

    return build


def test_campaigns_are_reproducible_per_seed(make: Callable[..., Campaign]) -> None:
    records, _ = make()
    again = generate(Scenario(), SEED)
    assert [r.model_dump() for r in records] == [r.model_dump() for r in again]
    other, _ = make(seed=SEED + 1)
    assert [r.incumbent.output for r in other] != [r.incumbent.output for r in records]


def test_records_look_like_what_the_proxy_writes(make: Callable[..., Campaign]) -> None:
    records, truths = make()
    for record, truth in zip(records, truths, strict=True):
        body = record.request.body
        assert record.route == "/v1/chat/completions"
        assert record.method == "POST"
        assert body["model"] == record.request.model == "inc-model"
        assert body["messages"][-1]["role"] == "user"
        assert body["stream"] is record.request.stream is truth.streamed
        assert record.request.tags == {"tenant": truth.tenant, "feature": truth.feature}
        assert ("response_format" in body) is (truth.kind == "json")
        assert ("tools" in body) is (truth.kind == "tool_call")
        roles = [m.role for m in record.mirrors]
        assert roles[0] is Role.CANDIDATE
        assert roles[1:] in ([], [Role.REPLICA])
        for side in (record.incumbent, *record.mirrors):
            assert side.latency_ms is not None
            assert side.latency_ms > 0
            if side.status != 200:
                assert side.output is None
                assert side.error is not None
                continue
            output = side.output
            assert output is not None
            assert output.usage is not None
            usage = output.usage
            assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
            assert side.model == ("cand-model" if side.role is Role.CANDIDATE else "inc-model")
            assert output.streamed is record.request.stream
            assert (output.body is None) is record.request.stream
            assert side.ttft_ms is not None
            assert side.ttft_ms <= side.latency_ms
            if output.tool_calls:
                assert output.finish_reason == "tool_calls"
                assert all(isinstance(json.loads(c.arguments), dict) for c in output.tool_calls)
            else:
                assert output.finish_reason == "stop"
                assert output.text


def test_traffic_rates_match_the_knobs(make: Callable[..., Campaign]) -> None:
    _, truths = make()
    n = len(truths)
    kinds = Counter(t.kind for t in truths)
    weights = dict(Scenario().mix)
    for kind, weight in weights.items():
        assert within(kinds[kind], n, weight / sum(weights.values())), (kind, kinds)
    assert within(sum(t.streamed for t in truths), n, 0.4)
    assert within(sum(t.replica is not None for t in truths), n, 0.5)
    tenants = Counter(t.tenant for t in truths)
    assert within(tenants["acme"], n, 0.5)
    assert within(tenants["umbrella"], n, 0.1)
    assert within(Counter(t.feature for t in truths)["chat"], n, 0.55)
    assert within(sum(t.incumbent == "http400" for t in truths), n, 0.005)
    assert within(sum(t.incumbent == "transient" for t in truths), n, 0.01)
    assert within(sum(t.candidate == "transient" for t in truths), n, 0.01)
    answerable = [t for t in truths if t.kind != "refusable" and t.candidate in ("ok", "noise")]
    assert within(sum(t.candidate == "noise" for t in answerable), len(answerable), 0.03)
    replicas = [t for t in truths if t.replica in ("ok", "noise")]
    assert within(sum(t.replica == "noise" for t in replicas), len(replicas), 0.03)
    items = Counter(t.item for t in truths if t.kind == "prose")
    assert min(items.values()) >= 3  # questions recur, with fresh wording each time


def test_an_equally_good_paraphrasing_candidate_keeps_every_fact(
    make: Callable[..., Campaign],
) -> None:
    for style in ("same", "verbose", "terse", "own", "markdown", "mixed"):
        records, truths = make(style=style)
        kept = differ = 0
        for record, truth in zip(records, truths, strict=True):
            if truth.incumbent not in ("ok",) or truth.candidate != "ok":
                continue
            mine, theirs = (
                content(record.incumbent, truth.kind),
                content(candidate(record), truth.kind),
            )
            assert mine == theirs, (style, truth)
            kept += 1
            texts = (record.incumbent.output, candidate(record).output)
            differ += (
                texts[0] is not None and texts[1] is not None and texts[0].text != texts[1].text
            )
        assert kept > 1500
        assert differ / kept > (0.6 if style == "same" else 0.75), style


def test_noise_and_errors_change_what_comparators_compare(make: Callable[..., Campaign]) -> None:
    records, truths = make(style="own", substantive_error_rate=0.1)
    changes: Counter[str | None] = Counter()
    for record, truth in zip(records, truths, strict=True):
        if truth.incumbent != "ok" or truth.candidate not in ("noise", "subtle", "gross"):
            continue
        mine, theirs = content(record.incumbent, truth.kind), content(candidate(record), truth.kind)
        if truth.change != "swap":
            assert mine != theirs, truth
        changes[truth.change] += 1
    assert {"number", "name", "leaf", "argument", "wrong_tool", "other_item"} <= set(changes)


def test_substantive_errors_match_their_rate_and_subtle_share(
    make: Callable[..., Campaign],
) -> None:
    baseline, _ = make(style="own")
    records, truths = make(style="own", substantive_error_rate=0.1, subtle_share=0.5)
    comparable = [t for t in truths if t.incumbent == "ok" and t.candidate not in ("transient",)]
    wrong = [t for t in comparable if t.wrong]
    assert within(len(wrong), len(comparable) - sum(t.kind == "refusable" for t in comparable), 0.1)
    assert within(sum(t.candidate == "subtle" for t in wrong), len(wrong), 0.5)
    # The same seed gives the same incumbent whatever the candidate does.
    assert [r.incumbent for r in records] == [r.incumbent for r in baseline]


def test_refusal_increase_refuses_ordinary_prompts_in_varied_words(
    make: Callable[..., Campaign],
) -> None:
    records, truths = make(refusal_increase=0.05)
    refusals = [
        candidate(r).output.text  # type: ignore[union-attr]
        for r, t in zip(records, truths, strict=True)
        if t.candidate == "refusal"
    ]
    eligible = sum(t.incumbent == "ok" and t.candidate != "transient" for t in truths)
    assert within(len(refusals), eligible, 0.05)
    assert len(set(refusals)) >= 0.8 * len(refusals)


def test_refusable_prompts_are_refused_by_every_side(make: Callable[..., Campaign]) -> None:
    records, truths = make()
    refusable = [(r, t) for r, t in zip(records, truths, strict=True) if t.kind == "refusable"]
    assert refusable
    for _, truth in refusable:
        assert truth.incumbent in ("refused", "http400", "transient")
        assert truth.candidate in ("refused", "transient")
        assert truth.replica in (None, "refused", "http400", "transient")
    texts = {r.incumbent.output.text for r, t in refusable if t.incumbent == "refused"}  # type: ignore[union-attr]
    assert len(texts) >= 30


def test_a_broken_kind_gets_every_comparable_answer_wrong(make: Callable[..., Campaign]) -> None:
    records, truths = make(broken_kind="tool_call")
    tools = [
        (r, t) for r, t in zip(records, truths, strict=True)
        if t.kind == "tool_call" and t.incumbent == "ok" and t.candidate != "transient"
    ]  # fmt: skip
    assert tools
    assert all(t.wrong for _, t in tools)
    assert {t.change for _, t in tools} == {"argument", "wrong_tool"}
    others = [t for t in truths if t.kind != "tool_call"]
    assert not any(t.wrong for t in others)


def test_a_segment_confines_the_errors(make: Callable[..., Campaign]) -> None:
    _, truths = make(substantive_error_rate=0.3, segment=(("tenant", "globex"),))
    wrong = [t for t in truths if t.wrong]
    assert wrong
    assert {t.tenant for t in wrong} == {"globex"}


def test_the_incumbents_400s_are_the_replicas_and_optionally_the_candidates(
    make: Callable[..., Campaign],
) -> None:
    scenario = Scenario(incumbent_http400_rate=0.05)
    records, truths = generate_with_truth(scenario, SEED)
    rejected = [(r, t) for r, t in zip(records, truths, strict=True) if t.incumbent == "http400"]
    assert within(len(rejected), len(records), 0.05)
    for record, truth in rejected:
        assert record.incumbent.status == 400
        assert record.incumbent.output is None
        assert record.incumbent.error is not None
        assert record.incumbent.error.kind == "http_status"
        assert truth.candidate in ("ok", "noise", "refused", "transient")
        side = replica(record)
        assert side is None or side.status == 400
    strict = dataclasses.replace(
        scenario, candidate=CandidateBehaviour(answers_when_incumbent_400=False)
    )
    _, truths = generate_with_truth(strict, SEED)
    assert {t.candidate for t in truths if t.incumbent == "http400"} == {"http400"}


def _latencies(records: list[PairRecord], ttft: bool = False, stream: bool | None = None) -> Any:
    values = [
        candidate(r).ttft_ms if ttft else candidate(r).latency_ms
        for r in records
        if candidate(r).status == 200 and stream in (None, r.request.stream)
    ]
    return np.array(values, dtype=float)


def _ratio(knob: Any, base: Any, q: float) -> float:
    return float(np.percentile(knob, q) / np.percentile(base, q))


def test_latency_knobs_move_the_quantiles_they_claim(make: Callable[..., Campaign]) -> None:
    base = _latencies(make()[0])
    assert 750 < np.median(_latencies(make()[0], stream=False)) < 1100
    assert 250 < np.median(_latencies(make()[0], ttft=True, stream=True)) < 450
    slower = _latencies(make(latency_factor=1.3)[0])
    assert _ratio(slower, base, 50) == pytest.approx(1.3)
    assert _ratio(slower, base, 99) == pytest.approx(1.3)
    tail = _latencies(make(tail_share=0.015, tail_factor=2.5)[0])
    assert 1.7 < _ratio(tail, base, 99) < 2.6
    assert 0.99 < _ratio(tail, base, 50) < 1.03
    faster = _latencies(make(median_factor=0.82)[0])
    assert _ratio(faster, base, 50) == pytest.approx(0.82, abs=0.02)
    assert 0.9 < _ratio(faster, base, 99) < 1.02
    ttft = make(ttft_factor=1.5)[0]
    streamed = _ratio(_latencies(ttft, True, True), _latencies(make()[0], True, True), 50)
    plain = _ratio(_latencies(ttft, True, False), _latencies(make()[0], True, False), 50)
    assert streamed == pytest.approx(1.5)
    assert plain == pytest.approx(1.0)


def test_sides_of_one_request_have_correlated_latency(make: Callable[..., Campaign]) -> None:
    records, _ = make()
    pairs = [
        (math.log(r.incumbent.latency_ms), math.log(candidate(r).latency_ms))  # type: ignore[arg-type]
        for r in records
        if r.incumbent.status == 200 and candidate(r).status == 200 and not r.request.stream
    ]
    assert 0.35 < statistics.correlation(*zip(*pairs, strict=True)) < 0.65


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"substantive_error_rate": 1.5}, "substantive_error_rate=1.5: expected a share"),
        ({"latency_factor": 0.0}, "latency_factor=0.0: expected a positive number"),
        ({"style": "loud"}, "style='loud'"),
        ({"broken_kind": "refusable"}, "broken_kind='refusable'"),
    ],
)
def test_bad_knobs_are_rejected_by_name(knobs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        CandidateBehaviour(**knobs)


def test_bad_scenarios_are_rejected_by_name() -> None:
    with pytest.raises(ValueError, match=re.escape("replica_rate=-0.1")):
        Scenario(replica_rate=-0.1)
    with pytest.raises(ValueError, match="mix: unknown kinds"):
        Scenario(mix=(("poetry", 1.0),))  # type: ignore[arg-type]
