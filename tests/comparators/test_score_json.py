"""The worker's shortcuts do exactly what pydantic would: :func:`comparators.scores.score_json`
against ``model_dump_json``, :func:`comparators.scores.construct` against ``model_construct``,
the engine's cached ``<name>.<metric>`` keys, and the metric children bound once."""

from __future__ import annotations

import datetime
import enum
import json
import warnings
from pathlib import Path
from typing import Any, ClassVar

import pytest
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, ConfigDict, Field

from comparators.base import ComparatorContext, Pairing, make_score
from comparators.engine import ScoringEngine
from comparators.metrics import WorkerMetrics
from comparators.registry import Registration
from comparators.scores import Score, ScoreRecord, construct, score_json
from proxy.config.loading import parse_config
from proxy.config.root import Config
from proxy.recording.schema import PairRecord, Role
from tests.comparators.factories import call, mirror, record, side, usage

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "proxy" / "recording" / "pair_corpus.jsonl"
LEXICAL = {"text": {}, "outcome": {"refusals": "phrases"}, "latency": {}, "cost": {}}


def config(comparators: dict[str, dict[str, Any]] | None) -> Config:
    return parse_config(
        {
            "incumbent": {"url": "http://127.0.0.1:9"},
            "prices": {"file": str(ROOT / "config" / "prices.json")},
            "budgets": {"latency_ms": 600, "ttft_ms": 150, "cost_usd": 0.002},
            "comparators": comparators,
        }
    )


def corpus() -> list[PairRecord]:
    lines = CORPUS.read_bytes().split(b"\n")  # not splitlines(): records hold U+2028
    return [PairRecord.model_validate(json.loads(line)["record"]) for line in lines if line]


def base_record(**fields: Any) -> ScoreRecord:
    data: dict[str, Any] = {
        "pair_id": "p-é",
        "campaign": "c",
        "timestamp": 1764000000.125,
        "sample_rate": 0.5,
        "route": "/v1/chat/completions",
        "model": "m",
        "mirror": "cand",
        "role": Role.CANDIDATE,
        "mirror_model": None,
        "kind": "chat",
        "stream": False,
        "tags": {"tenant": "acmé"},
        "divergence": 0.25,
        "values": {"text.similarity": 0.75},
        "details": {},
        "breaches": [],
        "comparator_errors": [],
        "unscored": None,
    }
    return construct(ScoreRecord, {**data, **fields})


@pytest.mark.parametrize("selection", [LEXICAL, None], ids=["lexical", "every built-in"])
def test_score_json_writes_the_corpus_as_pydantic_does(selection: Any) -> None:
    engine = ScoringEngine(config(selection))
    records = [result for pair in corpus() for result in engine.score(pair)]
    assert len(records) > 100
    for result in records:
        assert score_json(result) == result.model_dump_json().encode()


class Flag(enum.IntEnum):
    ON = 1


class Tenths(float):
    pass


@pytest.mark.parametrize(
    "fields",
    [
        {"values": {"cost.incumbent_tokens": 10**20}},  # beyond orjson's 64 bits
        {"values": {"a": 1e-7, "b": 1e16, "c": -0.0, "d": 0.1 + 0.2, "e": 5e-324}},
        {"values": {"nan": float("nan"), "inf": float("inf"), "ok": True, "n": 3}},
        {"divergence": float("inf"), "timestamp": float("nan")},
        {"values": {"flag": Flag.ON}},  # pydantic writes 1.0 here (orjson would write 1)
        {"values": {"tenths": Tenths(0.5)}},
        {"details": {"x": {"when": datetime.datetime(2026, 12, 3, tzinfo=datetime.UTC)}}},
        {"details": {"x": {"kinds": {"a", "b"} - {"b"}, "pair": (1, 2), "raw": b"ab"}}},
        {"details": {"x": {1: "int key", "flag": Flag.ON, "nested": [{"k": None}]}}},
        {"details": {"x": {"text": "\u2028 </script> \x00 東京"}}},
        {"role": "candidate"},  # a plain string where the model says Role
        {"timestamp": 1764000000},  # an int where the model says float
        {"tags": {"n": 1}},
        {"breaches": ["latency_ms", "cost_usd"], "comparator_errors": ["boom"], "unscored": "x"},
    ],
)
def test_score_json_matches_pydantic_on_awkward_values(fields: dict[str, Any]) -> None:
    result = base_record(**fields)
    expected = result.model_dump_json(warnings=False).encode()
    with warnings.catch_warnings():  # pydantic warns of the mistyped ones, on either path
        warnings.simplefilter("ignore")
        assert score_json(result) == expected


def test_score_json_writes_a_subclass_with_its_own_fields() -> None:
    class Extended(ScoreRecord):
        note: str = "extra field"

    result = Extended.model_construct(**base_record().__dict__)
    assert score_json(result) == result.model_dump_json().encode()


def test_construct_builds_what_model_construct_builds() -> None:
    fields = dict(base_record().__dict__)
    del fields["schema_version"]  # the engine leaves it to its default
    cases: list[tuple[type[BaseModel], dict[str, Any]]] = [
        (ScoreRecord, fields),
        (Score, {"comparator": "text", "values": {"a": 1.0}, "details": {}, "breaches": []}),
        (Score, {"comparator": "text"}),  # defaults from factories, fresh each time
    ]
    for model, values in cases:
        ours, theirs = construct(model, dict(values)), model.model_construct(**values)
        assert list(ours.__dict__.items()) == list(theirs.__dict__.items())
        assert ours.model_fields_set == theirs.model_fields_set
        assert (ours.__pydantic_extra__, ours.__pydantic_private__) == (None, None)
        assert ours.model_dump_json() == theirs.model_dump_json()
    first, second = construct(Score, {"comparator": "a"}), construct(Score, {"comparator": "b"})
    assert first.values is not second.values


def test_construct_leaves_aliases_and_unknown_names_to_pydantic() -> None:
    class Aliased(BaseModel):
        model_config = ConfigDict(populate_by_name=True)

        value: int = Field(default=0, alias="v")

    assert construct(Aliased, {"v": 3}).value == 3  # resolved by model_construct
    score = construct(Score, {"comparator": "text", "unknown": 1})
    assert "unknown" not in score.__dict__


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ManyKeys:
    """A plug-in that names a new metric on every call."""

    name: ClassVar[str] = "many"
    Options: ClassVar[type[BaseModel]] = NoOptions
    calls = 0

    def __init__(self, options: NoOptions, context: ComparatorContext) -> None:
        pass

    def compare(self, pair: Pairing) -> list[Score]:
        ManyKeys.calls += 1
        return [make_score(self.name, {f"m{ManyKeys.calls}": ManyKeys.calls, "same": 1})]


def test_engine_keys_stay_right_past_the_cache() -> None:
    available = {"many": Registration("many", "test", lambda: ManyKeys)}
    engine = ScoringEngine(config({"many": {}}), available=available)
    pair = record(side(), [mirror("Paris.")])
    for _ in range(1100):
        (result,) = engine.score(pair)
        assert result.values == {f"many.m{ManyKeys.calls}": ManyKeys.calls, "many.same": 1}
    assert len(engine._keys) <= 1024


def test_metric_children_are_bound_once_and_series_start_at_zero() -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    assert metrics.child(metrics.scored, "candidate", "a") is metrics.scored.labels(
        "candidate", "a"
    )
    assert metrics.child(metrics.scored, "candidate", "a") is metrics.child(
        metrics.scored, "candidate", "a"
    )
    engine = ScoringEngine(config(LEXICAL))
    pair = record(
        side(usage=usage(10, 8)),
        [mirror("I can't help with that.", usage=usage(10, 4), tool_calls=[call("f")])],
    )
    for result in engine.score(pair):
        metrics.observe_score(result)
    labels = {"role": "candidate", "candidate": "cand-a"}
    assert registry.get_sample_value("darklaunch_pairs_scored_total", labels) == 1.0
    refusals = {**labels, "side": "mirror"}
    assert registry.get_sample_value("darklaunch_scored_refusals_total", refusals) == 1.0
    errors = {**labels, "side": "incumbent"}
    assert registry.get_sample_value("darklaunch_scored_errors_total", errors) == 0.0


def test_what_is_read_once_per_pair_is_read_again_for_the_next_pair() -> None:
    """The text and outcome comparators read a pair's incumbent once for all its mirrors; the
    next pair's incumbent, refusing where the last did not, is read afresh. Each mirror's
    record is the one a fresh engine gives for it alone."""
    engine = ScoringEngine(config(LEXICAL))
    refusing = side("I can't help with that, sorry.")
    answering = side("Paris is the capital of France.")
    mirrors = [
        mirror("Paris, France's capital.", name="cand-a"),
        mirror("I can't help with that, sorry.", role=Role.REPLICA, name="replica"),
    ]
    first = engine.score(record(refusing, mirrors, pair_id="p1"))
    second = engine.score(record(answering, mirrors, pair_id="p2"))
    assert [r.values["outcome.incumbent_refusal"] for r in first] == [True, True]
    assert [r.values["outcome.incumbent_refusal"] for r in second] == [False, False]
    assert [r.values["text.exact_match"] for r in first] == [False, True]
    assert [r.values["text.exact_match"] for r in second] == [False, False]
    for pair_id, incumbent, results in (("p1", refusing, first), ("p2", answering, second)):
        for one, result in zip(mirrors, results, strict=True):
            alone = ScoringEngine(config(LEXICAL)).score(record(incumbent, [one], pair_id=pair_id))
            assert alone[0].values == result.values
