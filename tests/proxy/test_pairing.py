"""Building pair records as plain data changed nothing a reader of the pairs stream can see.

``pair_corpus.jsonl`` holds what the model-based builder made of a varied corpus (see
:mod:`tests.proxy.recording.pair_corpus`); the plain-data builder must make the same of it.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from proxy.recording.encode import PairData, encode_record
from proxy.recording.schema import PairRecord
from proxy.recording.sink import MemoryRecorder
from tests.proxy.recording import pair_corpus


def _canonical(value: Any) -> bytes:
    # Compared as sorted JSON, not as Python values: 1 == 1.0 == True would hide a change.
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


@pytest.fixture(scope="module")
def golden() -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in pair_corpus.GOLDEN.read_bytes().splitlines()]


async def test_records_carry_the_same_keys_and_values_as_the_model_built_ones(
    golden: list[dict[str, Any]],
) -> None:
    built = await pair_corpus.build_all(encode_record)
    assert [name for name, _ in built] == [entry["case"] for entry in golden]
    for (name, payload), entry in zip(built, golden, strict=True):
        assert _canonical(orjson.loads(payload)) == _canonical(entry["record"]), name


async def test_records_validate_to_what_the_models_built(golden: list[dict[str, Any]]) -> None:
    built = await pair_corpus.build_all(encode_record)
    for (name, payload), entry in zip(built, golden, strict=True):
        expected = PairRecord.model_validate(entry["record"])
        assert PairRecord.model_validate_json(payload) == expected, name


async def test_corpus_covers_what_the_builder_must_handle(golden: list[dict[str, Any]]) -> None:
    records = [PairRecord.model_validate(entry["record"]) for entry in golden]
    sides = [side for r in records for side in (r.incumbent, *r.mirrors)]
    outputs = [side.output for side in sides if side.output is not None]
    assert any(side.role == "replica" for side in sides)
    assert any(side.status is None and side.error is not None for side in sides)
    assert any(side.status is None and side.error is None for side in sides)
    assert any(output.streamed and output.choices for output in outputs)
    assert any(output.truncated for output in outputs)
    assert any(output.partial and isinstance(output.body, str) for output in outputs)
    assert any(call.arguments for output in outputs for call in output.tool_calls)
    assert any(choice.refusal for output in outputs for choice in output.choices)
    assert any(r.request.body_truncated for r in records)
    assert {r.sample_rate for r in records} == set(pair_corpus.SAMPLE_RATES)
    assert any("[REDACTED:" in orjson.dumps(entry["record"]).decode() for entry in golden)


SECRETS = [
    pair_corpus.SECRET_KEY,
    "jane.doe@example.com",
    "j.doe@ex.com",
    "abcdefghijklmnop",
    "sk-abcdefghijklmnopqrst",
    "AKIAABCDEFGHIJKLMNOP",
    "bob@example.com",
    "ops@example.com",
    "zip@example.com",
    "EMP-123456",
    "sid=secret",
]


async def test_no_secret_reaches_an_encoded_record() -> None:
    built = dict(await pair_corpus.build_all(encode_record))
    # Two cases turn (some) patterns off; they show that the corpus does carry the secrets.
    for name in ("redaction_disabled", "redaction_builtins_only_with_drop_paths"):
        assert pair_corpus.SECRET_KEY.encode() in built.pop(name)
    leaks = [(name, s) for name, payload in built.items() for s in SECRETS if s.encode() in payload]
    assert not leaks


async def test_memory_recorder_hands_back_pair_records() -> None:
    recorder = MemoryRecorder()
    records: list[PairData] = []
    case = pair_corpus.cases()[0]
    pair_corpus.build(case, 0, records.append)
    recorder.submit(records[0])
    (record,) = recorder.records
    assert isinstance(record, PairRecord)
    assert record.pair_id == "pair-0"
    assert record.mirrors[0].output is not None
    assert record.mirrors[0].output.text.startswith("Connection reuse")
