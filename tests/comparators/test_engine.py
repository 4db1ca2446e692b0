from __future__ import annotations

import logging
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, ConfigDict

from comparators.base import ComparatorContext, ComparatorError, Pairing, make_score
from comparators.engine import ScoringEngine, headline_divergence
from comparators.registry import ENTRY_POINT_GROUP, discover_comparators
from comparators.scores import HEADLINE_KEYS, Score, ScoreRecord, Value
from proxy.config.loading import parse_config
from proxy.config.root import Config
from proxy.recording.schema import Output, Role, Side
from tests.comparators.factories import call, mirror, record, side, usage

PRICES = Path(__file__).resolve().parents[2] / "config" / "prices.json"


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Boom:
    name: ClassVar[str] = "boom"
    Options: ClassVar[type[BaseModel]] = NoOptions

    def __init__(self, options: NoOptions, context: ComparatorContext) -> None:
        pass

    def compare(self, pair: Pairing) -> list[Score]:
        raise ZeroDivisionError("comparator bug")


class BadValues(Boom):
    name: ClassVar[str] = "bad_values"

    def compare(self, pair: Pairing) -> list[Score]:
        return [make_score(self.name, {"vector": [1, 2]})]  # type: ignore[dict-item]


class Spoofer(Boom):
    name: ClassVar[str] = "spoofer"

    def compare(self, pair: Pairing) -> list[Score]:
        return [make_score("text", {"divergence": 0.0}, {"note": "hi"})]


def config(**sections: Any) -> Config:
    return parse_config(
        {"incumbent": {"url": "http://127.0.0.1:9"}, "prices": {"file": str(PRICES)}, **sections}
    )


def plugins(*names: str) -> Any:
    classes = {"boom": "Boom", "bad_values": "BadValues", "spoofer": "Spoofer"}
    return discover_comparators(
        [
            EntryPoint(name=n, value=f"{__name__}:{classes[n]}", group=ENTRY_POINT_GROUP)
            for n in names
        ]
    )


def test_one_score_record_per_mirror_candidates_and_replicas() -> None:
    engine = ScoringEngine(config())
    rec = record(
        side(usage=usage(10, 8)),
        [
            mirror("Paris, the capital.", usage=usage(10, 4)),
            mirror(role=Role.REPLICA, name="replica", model="big-model-v1", usage=usage(10, 8)),
        ],
    )
    candidate, replica = engine.score(rec)
    assert (candidate.mirror, candidate.role, candidate.mirror_model) == (
        "cand-a",
        Role.CANDIDATE,
        "small-model-v2",
    )
    assert (replica.mirror, replica.role) == ("replica", Role.REPLICA)
    assert replica.divergence == 0.0
    assert candidate.divergence is not None
    assert 0.0 < candidate.divergence < 1.0
    for score in (candidate, replica):
        assert (score.pair_id, score.campaign, score.route, score.model) == (
            "pair-1",
            "test",
            "/v1/chat/completions",
            "big-model-v1",
        )
        assert set(HEADLINE_KEYS) <= set(score.values)
        assert score.comparator_errors == []
        # Built without validation, so prove it survives the round trip the worker makes.
        assert ScoreRecord.model_validate_json(score.model_dump_json()) == score


def test_no_mirrors_no_scores() -> None:
    assert ScoringEngine(config()).score(record(mirrors=[])) == []


def test_a_raising_comparator_is_contained_logged_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    counted: list[str] = []
    engine = ScoringEngine(
        config(comparators={"boom": {}, "text": {}}),
        on_comparator_error=counted.append,
        available=plugins("boom"),
    )
    with caplog.at_level(logging.ERROR, logger="comparators.engine"):
        [score] = engine.score(record())
        engine.score(record())
    assert counted == ["boom", "boom"]
    assert score.comparator_errors == ["boom"]
    assert score.values["text.exact_match"] is True  # the others still ran
    assert score.divergence == 0.0
    assert caplog.records[0].exc_info is not None
    assert "comparator boom failed on pair pair-1 mirror cand-a" in caplog.text


def test_a_comparator_returning_non_scalars_is_contained() -> None:
    engine = ScoringEngine(config(comparators={"bad_values": {}}), available=plugins("bad_values"))
    [score] = engine.score(record())
    assert score.comparator_errors == ["bad_values"]
    assert score.values == {}


def test_values_are_filed_under_the_registered_name() -> None:
    engine = ScoringEngine(
        config(comparators={"text": {}, "spoofer": {}}), available=plugins("spoofer")
    )
    [score] = engine.score(record(side("a"), [mirror("b")]))
    assert score.values["text.divergence"] == 1.0
    assert score.values["spoofer.divergence"] == 0.0
    assert score.details["spoofer"] == {"note": "hi"}


def test_breaches_are_unioned_and_details_keyed_by_comparator() -> None:
    engine = ScoringEngine(config(budgets={"latency_ms": 100, "cost_usd": 1e-9}))
    [score] = engine.score(record(side(), [mirror(latency_ms=150.0, usage=usage(10, 10))]))
    assert score.breaches == ["latency_ms", "cost_usd"]
    assert score.details["latency"] == {"latency_budget_ms": 100}
    assert score.details["cost"]["cost_budget_usd"] == 1e-9


def test_bad_options_fail_at_start_up() -> None:
    with pytest.raises(ComparatorError, match=r"text\.normalize"):
        ScoringEngine(config(comparators={"text": {"normalize": "maybe"}}))


@pytest.mark.parametrize(
    ("incumbent", "mirror_side", "expected"),
    [
        (side("Paris."), mirror("Paris."), 0.0),
        (side("abc"), mirror("xyz"), 1.0),
        (side('{"a": 1, "b": 2}'), mirror('{"a": 1, "b": 3}'), 0.5),  # json beats text
        (
            side('{"a": 1}', tool_calls=[call("f", '{"x": 1}')]),
            mirror('{"a": 1}', tool_calls=[call("g")]),
            1.0,
        ),  # tool calls beat json
        # A failed side is an outcome, never a divergence: it would charge the candidate for
        # the incumbent's context-length 400s and inflate the noise floor with its 5xx.
        (side(), mirror(error="timeout", status=None), None),
        (side(status=500), mirror(), None),
        (side(status=500), mirror(status=502), None),
        (side(""), mirror(""), None),  # nothing to read is not "identical"
    ],
)
def test_headline_divergence(incumbent: Side, mirror_side: Side, expected: float | None) -> None:
    [score] = ScoringEngine(config()).score(record(incumbent, [mirror_side]))
    assert score.divergence == expected


def test_headline_falls_through_a_view_without_a_number() -> None:
    values: dict[str, Value] = {
        "json.applicable": True,
        "json.divergence": None,
        "text.divergence": 0.25,
    }
    assert headline_divergence(values, side(), mirror()) == 0.25
    assert headline_divergence({}, side(), mirror()) is None


def test_an_embedding_pair_is_scored_by_its_vectors_and_not_as_two_empty_texts() -> None:
    vectors = Output(body={"data": [{"index": 0, "embedding": [1.0, 0.0]}]})
    other = Output(body={"data": [{"index": 0, "embedding": [1.0, 1.0]}]})
    rec = record(side(out=vectors), [mirror(out=other)], route="/v1/embeddings")
    [score] = ScoringEngine(config()).score(rec)
    assert score.values["embedding.cosine"] == pytest.approx(2**-0.5)
    assert score.divergence == pytest.approx((1 - 2**-0.5) / 2)
    assert (score.values["text.applicable"], score.values["text.exact_match"]) == (False, None)


def test_the_recorded_sample_rate_reaches_the_score_record() -> None:
    engine = ScoringEngine(config())
    [old] = engine.score(record())
    [new] = engine.score(record().model_copy(update={"sample_rate": 0.25}))
    assert (old.sample_rate, new.sample_rate) == (None, 0.25)
    assert ScoreRecord.model_validate_json(new.model_dump_json()).sample_rate == 0.25
