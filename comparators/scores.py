"""The score record: what the comparators say about one (pair, mirror), written once to
``darklaunch:{<campaign>}:scores`` and read by the report, the gate and export.

Each comparator returns :class:`Score` objects; the worker flattens them into
``ScoreRecord.values`` under ``"<comparator>.<metric>"`` keys, so a third-party comparator's
numbers reach the report without any schema change. The built-ins' keys that the report and
gate rely on are listed in :data:`HEADLINE_KEYS`.

The worker builds and writes one score record per (pair, mirror), thousands a second:
:func:`construct` does ``model_construct``'s work without its per-field alias checks, and
:func:`score_json` writes ``model_dump_json``'s bytes without a detour through ``str``.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.fields import FieldInfo

from proxy.recording.schema import Role

__all__ = [
    "HEADLINE_KEYS",
    "SCORES_SCHEMA_VERSION",
    "Score",
    "ScoreRecord",
    "Value",
    "construct",
    "construct_score",
    "score_json",
]

SCORES_SCHEMA_VERSION = 1
Value = float | int | bool | str | None

# The keys the report and gate read. Each is documented in docs/comparators.md.
HEADLINE_KEYS = (
    "text.applicable",  # bool: either side has text (the other text.* keys are None if not)
    "text.exact_match",  # bool: identical text
    "text.normalized_match",  # bool: identical after white space, case and punctuation folding
    "text.similarity",  # float in [0, 1]: rapidfuzz token ratio
    "text.divergence",  # float in [0, 1]: 1 - similarity
    "json.applicable",  # bool: either side is (or was asked to be) JSON
    "json.incumbent_valid",  # bool
    "json.mirror_valid",  # bool
    "json.divergence",  # float in [0, 1]
    "json.equal",  # bool: no leaf changed (key order and number spelling aside)
    "json.changed_fields",  # int: entries of the structural diff
    "semantic.applicable",  # bool: both sides answered, at least one with text
    "semantic.similarity",  # float in [-1, 1]: sentence-coverage similarity of the meanings
    "semantic.fact_conflicts",  # int: kinds of fact (money, number, unit, name...) in conflict
    "semantic.changed",  # bool: the meaning or a fact changed; what quality: semantic counts
    "tool_calls.applicable",  # bool: either side called a tool
    "tool_calls.agree",  # bool: same tools, same order, equal parsed arguments
    "tool_calls.divergence",  # float in [0, 1]
    "outcome.incumbent_error",  # bool
    "outcome.mirror_win",  # bool: the mirror answered where the incumbent failed
    "outcome.mirror_loss",  # bool: the mirror failed where the incumbent answered
    "outcome.mirror_error",  # bool
    "outcome.incumbent_refusal",  # bool
    "outcome.mirror_refusal",  # bool
    "outcome.finish_reason_match",  # bool
    "outcome.length_ratio",  # float: mirror length / incumbent length
    "latency.both_ok",  # bool: both sides answered, so their latencies compare
    "latency.incumbent_ms",  # float
    "latency.mirror_ms",  # float
    "latency.delta_ms",  # float: mirror - incumbent
    "latency.ratio",  # float: mirror / incumbent
    "latency.incumbent_ttft_ms",  # float
    "latency.mirror_ttft_ms",  # float
    "latency.ttft_delta_ms",  # float
    "cost.incumbent_usd",  # float | None (None when unpriced)
    "cost.mirror_usd",  # float | None
    "cost.delta_usd",  # float | None
    "cost.estimated",  # bool: usage was estimated from text on both sides
    "embedding.applicable",  # bool: both sides returned embedding vectors
    "embedding.cosine",  # float: mean cosine similarity over the inputs
    "embedding.divergence",  # float in [0, 1]: (1 - cosine) / 2
    "cost.incumbent_tokens",  # int: total tokens
    "cost.mirror_tokens",  # int
    "reference.applicable",  # bool: the pair has a reference answer (other keys None if not)
    "reference.kind",  # str: the part that decided: tool_calls, json or text
    "reference.incumbent_match",  # bool: the incumbent's answer is right (a failed side is not)
    "reference.mirror_match",  # bool: the mirror's answer is right (None: unscored)
    "reference.incumbent_score",  # float in [0, 1]: how close to the reference
    "reference.mirror_score",  # float in [0, 1]
    "reference.unscored",  # bool: the embedder failed, so a side's match is None
)


class Score(BaseModel):
    """One comparator's verdict on one (pair, mirror).

    ``values`` are flat scalars (they become ``"<comparator>.<name>"`` keys); ``details`` hold
    structured evidence such as a JSON diff; ``breaches`` name budgets the mirror exceeded
    (``latency_ms``, ``ttft_ms``, ``cost_usd``).
    """

    model_config = ConfigDict(extra="forbid")

    comparator: str
    values: dict[str, Value] = Field(default_factory=dict)
    details: dict[str, Any] = Field(default_factory=dict)
    breaches: list[str] = Field(default_factory=list)


class ScoreRecord(BaseModel):
    """Everything the comparators said about one mirror of one pair."""

    model_config = ConfigDict(extra="ignore")

    schema_version: int = SCORES_SCHEMA_VERSION
    pair_id: str
    campaign: str
    timestamp: float
    # The pair's recorded sample rate (``PairRecord.sample_rate``): what the report's cost
    # projection scales by. ``None`` for pairs recorded before it was.
    sample_rate: float | None = None
    route: str
    model: str | None = None
    mirror: str
    role: Role
    mirror_model: str | None = None
    # Segment dimensions (:mod:`comparators.columns.segments`): what the request asked for,
    # whether it was streamed, and the user tags recorded with the pair. ``None``/empty in
    # older records.
    kind: str | None = None
    stream: bool | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    divergence: float | None = None
    values: dict[str, Value] = Field(default_factory=dict)
    details: dict[str, dict[str, Any]] = Field(default_factory=dict)
    breaches: list[str] = Field(default_factory=list)
    comparator_errors: list[str] = Field(default_factory=list)
    # Why no comparator scored this (pair, mirror), e.g. ``incumbent:unknown_format``: a side
    # answered in a format nothing can read (``Output.unscored``). Its ``values`` are empty,
    # and the report and gate count it apart instead of reading its absence as agreement.
    unscored: str | None = None

    def value(self, key: str) -> Value:
        return self.values.get(key)


ModelT = TypeVar("ModelT", bound=BaseModel)
_new = object.__new__
_setattr = object.__setattr__
# Per model: its field names in order, as a set, and each field with its FieldInfo when it has
# a default (None when required). None when construct() must leave the model to pydantic.
_Spec = tuple[tuple[str, ...], frozenset[str], tuple[tuple[str, FieldInfo | None], ...]]
_specs: dict[type[BaseModel], _Spec | None] = {}


def _spec(model: type[BaseModel]) -> _Spec | None:
    """What :func:`construct` needs to know of a model, or ``None`` when it has aliases (which
    ``model_construct`` resolves), a post-init hook, kept extra values or a root."""
    if model not in _specs:
        fields = model.model_fields
        plain = (
            not model.__pydantic_root_model__
            and model.__pydantic_post_init__ is None
            and model.model_config.get("extra") != "allow"
            and all(f.alias is None and f.validation_alias is None for f in fields.values())
        )
        _specs[model] = (
            (
                tuple(fields),
                frozenset(fields),
                tuple((name, None if f.is_required() else f) for name, f in fields.items()),
            )
            if plain
            else None
        )
    return _specs[model]


def construct(model: type[ModelT], values: dict[str, Any]) -> ModelT:
    """``model.model_construct(**values)``, the same object (``__dict__`` in field order, missing
    fields at their defaults, ``model_fields_set`` the names given), in about half the time
    for a score record: pydantic's version checks every field's aliases on every call. Like
    it, nothing is validated: for values the caller built and trusts."""
    spec = _spec(model)
    if spec is None or not values.keys() <= spec[1]:
        return model.model_construct(**values)
    order, _, fields = spec
    if len(values) == len(order):
        data = {name: values[name] for name in order}
    else:
        data = {}
        for name, field in fields:
            if name in values:
                data[name] = values[name]
            elif field is not None:
                data[name] = field.get_default(call_default_factory=True, validated_data=data)
    instance = _new(model)
    _setattr(instance, "__dict__", data)
    _setattr(instance, "__pydantic_fields_set__", set(values))
    _setattr(instance, "__pydantic_extra__", None)
    _setattr(instance, "__pydantic_private__", None)
    return instance


_SCORE_FIELDS = ("comparator", "values", "details", "breaches")


def construct_score(
    comparator: str, values: dict[str, Value], details: dict[str, Any], breaches: list[str]
) -> Score:
    """``construct(Score, ...)`` with every field given, in half its time: a comparator builds
    four of these per (pair, mirror), and with every field known there is no order to restore
    and no default to fill."""
    instance = _new(Score)
    _setattr(
        instance,
        "__dict__",
        {"comparator": comparator, "values": values, "details": details, "breaches": breaches},
    )
    _setattr(instance, "__pydantic_fields_set__", set(_SCORE_FIELDS))
    _setattr(instance, "__pydantic_extra__", None)
    _setattr(instance, "__pydantic_private__", None)
    return instance


def score_json(record: ScoreRecord) -> bytes:
    """``record.model_dump_json().encode()``, the same bytes from the same serializer with the
    same defaults, without the round trip through ``str`` (pydantic writes bytes and decodes
    them, the worker encoded them again).

    An orjson writer from the record's fields was tried and measured: to write the same bytes
    it must first check that every value is of an exact JSON type (pydantic writes an
    ``IntEnum`` in ``values`` as ``1.0``, orjson as ``1``), and with that check it was no
    faster than pydantic (about 9 µs a record either way on the bench machine)."""
    return record.__pydantic_serializer__.to_json(record)
