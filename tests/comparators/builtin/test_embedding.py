from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np
import pytest

from comparators.builtin.embedding import EmbeddingComparator, EmbeddingOptions, vectors_of
from comparators.engine import headline_divergence
from proxy.recording.schema import Output, Role
from tests.comparators.factories import context, pairing, side


def _body(*vectors: list[float], b64: bool = False) -> dict[str, Any]:
    data = []
    for index, vector in enumerate(vectors):
        embedding: Any = vector
        if b64:
            embedding = base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    return {"object": "list", "data": data, "model": "emb"}


def _compare(
    incumbent_body: Any, mirror_body: Any, route: str = "/v1/embeddings"
) -> dict[str, Any]:
    comparator = EmbeddingComparator(EmbeddingOptions(), context())
    pair = pairing(
        side(out=Output(body=incumbent_body)),
        side(out=Output(body=mirror_body), role=Role.CANDIDATE, name="c"),
        route=route,
    )
    (score,) = comparator.compare(pair)
    return score.values


def test_identical_vectors_have_zero_divergence() -> None:
    values = _compare(_body([1.0, 2.0, 3.0]), _body([1.0, 2.0, 3.0]))
    assert values["applicable"] is True
    assert values["cosine"] == pytest.approx(1.0)
    assert values["divergence"] == pytest.approx(0.0)


def test_hand_computed_cosine_with_base64_on_one_side() -> None:
    values = _compare(_body([1.0, 0.0], [0.0, 1.0]), _body([1.0, 1.0], [0.0, -1.0], b64=True))
    first = 1 / math.sqrt(2)
    assert values["min_cosine"] == pytest.approx(-1.0)
    assert values["cosine"] == pytest.approx((first - 1.0) / 2)
    assert values["divergence"] == pytest.approx((1 - (first - 1.0) / 2) / 2)


def test_dimension_mismatch_is_full_divergence() -> None:
    values = _compare(_body([1.0, 0.0]), _body([1.0, 0.0, 0.0]))
    assert values["dimensions_match"] is False
    assert values["divergence"] == 1.0


@pytest.mark.parametrize(
    ("incumbent_body", "mirror_body", "route"),
    [
        (_body([1.0]), _body([1.0]), "/v1/chat/completions"),
        ({"error": {"message": "x"}}, _body([1.0]), "/v1/embeddings"),
        (_body([1.0]), {"data": [{"embedding": "not base64!"}]}, "/v1/embeddings"),
    ],
)
def test_not_applicable(incumbent_body: Any, mirror_body: Any, route: str) -> None:
    assert _compare(incumbent_body, mirror_body, route)["applicable"] is False


def test_vectors_keep_input_order_and_headline_uses_embedding() -> None:
    body = {"data": [{"index": 1, "embedding": [0.0, 1.0]}, {"index": 0, "embedding": [1.0, 0.0]}]}
    vectors = vectors_of(body)
    assert vectors is not None
    assert vectors[0].tolist() == [1.0, 0.0]
    values = {"embedding.applicable": True, "embedding.divergence": 0.25, "text.divergence": 1.0}
    assert headline_divergence(values, side(), side(role=Role.CANDIDATE, name="c")) == 0.25
