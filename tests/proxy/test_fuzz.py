"""Fuzzing the parsers that face untrusted input: the record parser and the config loader.
(The SSE assembler's fuzz tests live in recording/assembly/test_dispatch.py and
recording/test_sse.py.)"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from proxy.config.base import ConfigError
from proxy.config.loading import parse_config
from proxy.recording.schema import PairRecord

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
CONFIG_KEYS = (
    "listen admin incumbent fallback candidates mirror recording budgets url port sample_rate "
    "name headers timeout_s max_inflight redact x"
).split()
config_trees = st.recursive(
    json_scalars
    | st.sampled_from(["http://127.0.0.1:1", "${HOME}", "${NOPE:-d}", "${NOPE}", "header:x"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(CONFIG_KEYS), children, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000) | json_values.map(lambda v: yaml.safe_dump(v).encode()))
def test_record_parser_only_raises_validation_errors(data: bytes) -> None:
    with contextlib.suppress(ValidationError):
        PairRecord.model_validate_json(data)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_record_parser_on_arbitrary_json(data: Any) -> None:
    with contextlib.suppress(ValidationError):
        PairRecord.model_validate(data)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(config_trees)
def test_config_loader_only_raises_config_errors_that_name_a_key(data: Any) -> None:
    problems: list[str] = []
    try:
        parse_config(data, env={"HOME": "/root"})
    except ConfigError as exc:
        problems = exc.problems or ["<none>"]
    assert all(":" in problem for problem in problems)


@pytest.mark.parametrize("text", ["", "- a\n- b", "incumbent: [", "\x00", "a: &x [*x]"])
def test_config_loader_on_odd_yaml(tmp_path: Any, text: str) -> None:
    from proxy.config.loading import load_config

    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError):
        load_config(path)
