"""Embedding divergence: do the two models place the same inputs in the same direction?

For ``/v1/embeddings`` pairs, each input's vectors are compared by cosine similarity when
their dimensions match. Vectors arrive as JSON float lists or, as the official SDK asks by
default, as base64 little-endian float32 (``encoding_format: base64``); both are read.

Values: ``applicable`` (both sides returned vectors), ``dimensions_match``, ``cosine`` (mean
over inputs), ``min_cosine`` and ``divergence = (1 - cosine) / 2`` clipped to [0, 1], so that
opposite vectors are 1 and identical ones 0. Vectors from two different models live in
different spaces; the comparison is meaningful for the same model with another prompt or
serving stack, and otherwise ``dimensions_match`` usually says so.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from comparators.base import ComparatorContext, Pairing, make_score
from comparators.scores import Score, Value

__all__ = ["EmbeddingComparator", "EmbeddingOptions", "vectors_of"]


class EmbeddingOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_NONE: dict[str, Value] = {
    "applicable": False,
    "dimensions_match": None,
    "cosine": None,
    "min_cosine": None,
    "divergence": None,
}


def _vector(value: Any) -> np.ndarray[Any, np.dtype[np.float64]] | None:
    if isinstance(value, list) and value and all(isinstance(v, int | float) for v in value):
        return np.asarray(value, dtype=np.float64)
    if isinstance(value, str):
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return None
        if raw and len(raw) % 4 == 0:
            return np.frombuffer(raw, dtype="<f4").astype(np.float64)
    return None


def vectors_of(body: Any) -> list[np.ndarray[Any, np.dtype[np.float64]]] | None:
    """The vectors of an embeddings answer, in input order, or ``None`` if it has none."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        return None
    items = sorted(
        (item for item in body["data"] if isinstance(item, dict)),
        key=lambda item: item.get("index", 0) if isinstance(item.get("index"), int) else 0,
    )
    vectors = [_vector(item.get("embedding")) for item in items]
    if not vectors or any(v is None for v in vectors):
        return None
    return [v for v in vectors if v is not None]


def _cosine(
    a: np.ndarray[Any, np.dtype[np.float64]], b: np.ndarray[Any, np.dtype[np.float64]]
) -> float:
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    if norms == 0.0:
        return 1.0 if not a.any() and not b.any() else 0.0
    return float(np.dot(a, b) / norms)


class EmbeddingComparator:
    name: ClassVar[str] = "embedding"
    Options: ClassVar[type[BaseModel]] = EmbeddingOptions

    def __init__(self, options: EmbeddingOptions, context: ComparatorContext) -> None:
        self.options = options

    def compare(self, pair: Pairing) -> list[Score]:
        if not pair.record.route.endswith("/embeddings") or not pair.both_ok:
            return [make_score(self.name, dict(_NONE))]
        incumbent, mirror = pair.incumbent.output, pair.mirror.output
        a = vectors_of(incumbent.body) if incumbent is not None else None
        b = vectors_of(mirror.body) if mirror is not None else None
        if a is None or b is None:
            return [make_score(self.name, dict(_NONE))]
        if len(a) != len(b) or any(x.shape != y.shape for x, y in zip(a, b, strict=False)):
            return [
                make_score(
                    self.name,
                    {**_NONE, "applicable": True, "dimensions_match": False, "divergence": 1.0},
                )
            ]
        cosines = [_cosine(x, y) for x, y in zip(a, b, strict=True)]
        mean = sum(cosines) / len(cosines)
        return [
            make_score(
                self.name,
                {
                    "applicable": True,
                    "dimensions_match": True,
                    "cosine": mean,
                    "min_cosine": min(cosines),
                    "divergence": min(1.0, max(0.0, (1.0 - mean) / 2.0)),
                },
            )
        ]
