"""Answers nobody could read are counted apart, never scored: not by the engine, not as
"identical" by any built-in comparator, and never silently in the report or the gate."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from comparators.base import Pairing
from comparators.engine import ScoringEngine
from comparators.gate.policy import GatePolicy
from comparators.gate.result import Verdict
from comparators.gate.verdict import evaluate
from comparators.report.build import build_report
from comparators.scores import ScoreRecord, Value
from proxy.config.loading import parse_config
from proxy.config.root import Config
from proxy.recording.assembly.dispatch import assemble_output
from proxy.recording.schema import Output, Role
from tests.comparators.factories import mirror, record, side
from tests.comparators.gate.test_verdict import campaign

PRICES = Path(__file__).resolve().parents[2] / "config" / "prices.json"
UNKNOWN = "/v1/unknown/generate"
ALL_BUILTINS = (
    "text",
    "json",
    "tool_calls",
    "outcome",
    "latency",
    "cost",
    "semantic",
    "embedding",
    "reference",
)


def config() -> Config:
    return parse_config(
        {
            "incumbent": {"url": "http://127.0.0.1:9"},
            "prices": {"file": str(PRICES)},
            "comparators": {name: {} for name in ALL_BUILTINS},
        }
    )


def unknown(body: dict[str, Any], *, stream: bool = False) -> Output:
    """An answer as the proxy records one on a route no assembler knows."""
    if stream:
        raw = b"".join(b"data: " + orjson.dumps(body) + b"\n\n" for _ in range(2))
        return assemble_output(UNKNOWN, "text/event-stream", raw)
    return assemble_output(UNKNOWN, "application/json", orjson.dumps(body))


@pytest.fixture(scope="module")
def engine() -> ScoringEngine:
    return ScoringEngine(config())


def test_the_engine_scores_nothing_when_no_side_can_be_read(engine: ScoringEngine) -> None:
    rec = record(
        side(out=unknown({"generated": "The capital is Paris."})),
        [mirror(out=unknown({"generated": "It is Lyon."}))],
        route=UNKNOWN,
    )
    [score] = engine.score(rec)
    assert score.unscored == "incumbent:unknown_format"
    assert score.values == {}
    assert score.divergence is None
    assert score.breaches == []


def test_one_unreadable_side_is_enough_and_is_named(engine: ScoringEngine) -> None:
    # A readable incumbent against an unreadable mirror would otherwise score text against
    # nothing: a divergence of 1.0 that no one measured.
    rec = record(side(), [mirror(out=unknown({"generated": "Paris"}, stream=True))])
    [score] = engine.score(rec)
    assert score.unscored == "candidate:unknown_format"
    assert score.divergence is None


def test_a_failed_side_is_an_outcome_not_unscored(engine: ScoringEngine) -> None:
    error = assemble_output(UNKNOWN, "application/json", b'{"error": {"message": "overloaded"}}')
    rec = record(
        side(out=unknown({"generated": "Paris"})),
        [mirror(status=503, out=error)],
        route=UNKNOWN,
    )
    [score] = engine.score(rec)
    # The incumbent answered in an unknown format: still unscored, whatever the mirror did.
    assert score.unscored == "incumbent:unknown_format"
    failed_mirror_only = record(side(), [mirror(status=503, out=error)])
    [score] = engine.score(failed_mirror_only)
    assert score.unscored is None
    assert score.values["outcome.mirror_loss"] is True


def _identical(key: str, value: Value) -> bool:
    """Whether a value claims the two answers agree."""
    metric = key.rsplit(".", 1)[-1]
    if metric in {"exact_match", "normalized_match", "equal", "agree"}:
        return value is True
    if metric in {"similarity", "cosine"}:
        return isinstance(value, int | float) and value >= 1.0
    if metric == "divergence":
        return value == 0.0
    if metric == "changed":
        return value is False
    return False


TEXTLESS: dict[str, tuple[Callable[[], Output], Callable[[], Output]]] = {
    "both unknown": (
        lambda: unknown({"generated": "Paris"}),
        lambda: unknown({"generated": "Lyon"}),
    ),
    "both empty chat answers": (
        lambda: Output(format="chat", choices=[]),
        lambda: Output(format="chat", choices=[]),
    ),
    "both bodies without choices": (
        lambda: Output(format="chat", body={"object": "chat.completion"}),
        lambda: Output(format="chat", body={"object": "chat.completion", "x": 1}),
    ),
    "both blank texts": (
        lambda: assemble_output(
            "/v1/chat/completions",
            "application/json",
            b'{"choices": [{"index": 0, "message": {"content": "  "}, "finish_reason": "stop"}]}',
        ),
        lambda: assemble_output(
            "/v1/chat/completions",
            "application/json",
            b'{"choices": [{"index": 0, "message": {"content": ""}, "finish_reason": "stop"}]}',
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(TEXTLESS))
def test_no_comparator_calls_two_textless_answers_identical(
    engine: ScoringEngine, case: str
) -> None:
    make_incumbent, make_mirror = TEXTLESS[case]
    rec = record(side(out=make_incumbent()), [mirror(out=make_mirror())])
    pair = Pairing(rec, rec.incumbent, rec.mirrors[0])
    assert {c.name for c in engine.comparators} == set(ALL_BUILTINS)
    claims = [
        f"{c.name}.{key}={value!r}"
        for c in engine.comparators
        for score in c.compare(pair)
        for key, value in score.values.items()
        if _identical(key, value)
    ]
    assert claims == []
    [scored] = engine.score(rec)
    assert scored.divergence is None
    assert not any(_identical(key, value) for key, value in scored.values.items())


def _unscored(pair_id: str, route: str = UNKNOWN) -> ScoreRecord:
    return ScoreRecord(
        pair_id=pair_id,
        campaign="test",
        timestamp=1_700_000_000.0,
        route=route,
        mirror="cand-a",
        role=Role.CANDIDATE,
        unscored="incumbent:unknown_format",
    )


def test_the_gate_leaves_unscored_pairs_out_and_says_how_many() -> None:
    scored = campaign(400)
    result = evaluate([*scored, *(_unscored(f"u{i}") for i in range(37))], GatePolicy())
    alone = evaluate(scored, GatePolicy())
    assert result.verdict is alone.verdict
    assert result.unscored == 37
    [note] = [n for n in result.notes if "could not be scored" in n]
    assert note.startswith("37 pairs of cand-a could not be scored")
    assert f"{UNKNOWN} 37 (incumbent:unknown_format)" in note


def test_a_campaign_of_unscored_pairs_is_inconclusive_never_a_pass() -> None:
    result = evaluate([_unscored(f"u{i}") for i in range(5000)], GatePolicy())
    assert result.verdict is Verdict.INCONCLUSIVE
    assert result.unscored == 5000


def test_the_report_counts_unscored_pairs_per_route() -> None:
    records = [
        *campaign(50),
        *(_unscored(f"u{i}") for i in range(3)),
        *(_unscored(f"m{i}", "/v1/rerank") for i in range(2)),
    ]
    report = build_report(records, n_resamples=200)
    assert report.unscored_records == 5
    assert report.records == 100  # 50 candidate and 50 replica records, none unscored
    [note] = [n for n in report.notes if "could not be scored" in n]
    assert "/v1/rerank 2 (incumbent:unknown_format)" in note
    assert f"{UNKNOWN} 3 (incumbent:unknown_format)" in note
    [candidate] = report.candidates
    assert candidate.overall.pairs == 50
