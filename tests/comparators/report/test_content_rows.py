"""What the report says about pairs the text view cannot see (embeddings, two empty answers) and
about candidates it cannot price."""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console

from comparators.engine import ScoringEngine
from comparators.report.build import build_report
from comparators.report.html import render_html
from comparators.report.table import render_table
from comparators.scores import ScoreRecord
from proxy.config.loading import parse_config
from proxy.recording.schema import Output
from tests.comparators.factories import mirror, record, side, usage
from tests.comparators.score_factories import replica, score

EMBEDDINGS = "/v1/embeddings"


def _table(records: list[ScoreRecord]) -> str:
    console = Console(record=True, width=240)
    console.print(render_table(build_report(records)))
    return console.export_text()


def _embedding(pair_id: str, cosine: float, *, old: bool = False, **kwargs: Any) -> ScoreRecord:
    """An embedding pair as the worker scores it now, or (``old``) as it did before the text
    comparator stopped scoring two empty texts as a perfect match."""
    text: dict[str, Any] = (
        {"similarity": 1.0}
        if old
        else {
            "similarity": None,
            "text__applicable": False,
            "text__exact_match": None,
            "text__divergence": None,
        }
    )
    divergence = (1.0 - cosine) / 2.0
    factory = replica if kwargs.pop("noise", False) else score
    return factory(
        pair_id,
        route=EMBEDDINGS,
        divergence=divergence,
        embedding__applicable=True,
        embedding__cosine=cosine,
        embedding__divergence=divergence,
        **text,
        **kwargs,
    )


@pytest.mark.parametrize("old", [False, True])
def test_embedding_pairs_get_their_own_row_and_stay_out_of_the_text_rates(old: bool) -> None:
    cosines = [0.95, 0.96, 0.97, 0.98, 0.975]
    records = [_embedding(f"e{i}", c, old=old) for i, c in enumerate(cosines)]
    records += [_embedding(f"e{i}", 1.0, old=old, noise=True) for i in range(3)]
    records += [score("c1", similarity=0.5), score("c2", similarity=1.0)]
    row = build_report(records).candidates[0].overall
    assert row.exact_match_rate.value == pytest.approx(0.5)
    assert row.exact_match_rate.n == 2  # the chat pairs only, never the vectors
    assert row.mean_similarity.value == pytest.approx(0.75)
    assert row.noise_mean_similarity.n == 0
    assert row.embedding_cosine.value == pytest.approx(sum(cosines) / 5)
    assert row.embedding_cosine.n == 5
    lower, upper = row.embedding_cosine.lower, row.embedding_cosine.upper
    assert lower is not None
    assert upper is not None
    assert lower < 0.967 < upper
    assert row.embedding_divergence.value == pytest.approx((1 - sum(cosines) / 5) / 2)
    assert row.noise_embedding_cosine.value == pytest.approx(1.0)
    rows = {r.key: r for r in build_report(records).candidates[0].rows}
    assert rows[EMBEDDINGS].exact_match_rate.value is None  # not 100%
    assert "embedding cosine" in _table(records)
    assert "embedding cosine" in render_html(build_report(records))


def test_pairs_without_text_on_either_side_are_not_counted_as_exact_matches() -> None:
    no_text: dict[str, Any] = {
        "similarity": None,
        "text__applicable": False,
        "text__exact_match": None,
        "divergence": None,
    }
    records = [score("a", similarity=0.5), *(score(f"t{i}", **no_text) for i in range(8))]
    row = build_report(records).candidates[0].overall
    assert (row.exact_match_rate.value, row.exact_match_rate.n) == (0.0, 1)
    assert row.embedding_cosine.n == 0
    assert "embedding cosine" not in _table(records)  # no embedding pairs, no row


def _unpriced(pair_id: str) -> ScoreRecord:
    return score(
        pair_id,
        mirror_usd=None,
        details={"cost": {"unpriced": ["small-model-v2"]}},
    )


def test_an_unpriced_candidate_model_is_named_with_how_to_price_it() -> None:
    records = [_unpriced(f"p{i}") for i in range(4)]
    report = build_report(records)
    candidate = report.candidates[0]
    assert candidate.overall.cost.candidate.mean.value is None
    assert candidate.unpriced_models == {"small-model-v2": 4}
    [note] = report.notes[-1:]
    assert "'cand-a'" in note
    assert "'small-model-v2' (4 pairs)" in note
    assert "prices.models" in note
    assert "prices.file" in note
    assert "note: candidate 'cand-a': no price for model 'small-model-v2'" in _table(records)
    page = render_html(report)
    assert "unpriced models" in page
    assert "small-model-v2 (4 pairs)" in page


def test_a_priced_campaign_has_no_pricing_note() -> None:
    report = build_report([score("a"), score("b")])
    assert report.candidates[0].unpriced_models == {}
    assert not any("no price" in note for note in report.notes)


def test_the_cost_comparators_unpriced_verdict_reaches_the_note() -> None:
    config = parse_config(
        {
            "incumbent": {"url": "http://127.0.0.1:9"},
            "prices": {
                "models": {"big-model-v1": {"input_cost_per_token": 1, "output_cost_per_token": 1}}
            },
        }
    )
    engine = ScoringEngine(config)
    pair = record(side(usage=usage(10, 5)), [mirror(model="mystery-9b", usage=usage(10, 5))])
    report = build_report(engine.score(pair))
    assert report.candidates[0].unpriced_models == {"mystery-9b": 1}
    assert any("'mystery-9b' (1 pair)" in note for note in report.notes)


def test_embedding_vectors_scored_by_the_engine_fill_the_embedding_row() -> None:
    config = parse_config({"incumbent": {"url": "http://127.0.0.1:9"}})
    engine = ScoringEngine(config)
    a = Output(body={"data": [{"index": 0, "embedding": [1.0, 0.0]}]})
    b = Output(body={"data": [{"index": 0, "embedding": [0.96, 0.28]}]})
    pair = record(side(out=a), [mirror(out=b)], route=EMBEDDINGS, body={"input": "x"})
    row = build_report(engine.score(pair)).candidates[0].overall
    assert row.embedding_cosine.value == pytest.approx(0.96)
    assert row.exact_match_rate.n == 0
    assert row.mean_similarity.n == 0
