from __future__ import annotations

from pathlib import Path

import pytest

from proxy.config.base import ConfigError
from proxy.config.loading import load_config, parse_config
from tests.proxy.config.cli import run_cli

MINIMAL = {"incumbent": {"url": "http://127.0.0.1:8001"}}


def test_contract_keys_from_the_issue_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        """
listen: {host: 127.0.0.1, port: 8080}
admin: {host: 127.0.0.1, port: 9090}
incumbent:
  url: http://127.0.0.1:8001
  timeout_s: 600
  headers: {}
candidates:
  - name: cand-a
    url: http://127.0.0.1:8002
    model: my-model-v2
    body_overrides: {}
    headers: {Authorization: "Bearer ${CANDIDATE_API_KEY}"}
    timeout_s: 120
    first_byte_timeout_s: 30
    max_inflight: 64
mirror:
  sample_rate: 0.05
  sample_key: random
  routes: [/v1/chat/completions, /v1/completions, /v1/responses, /v1/embeddings]
"""
    )
    config = load_config(path, env={"CANDIDATE_API_KEY": "sk-cand"})
    assert config.candidates[0].headers["Authorization"] == "Bearer sk-cand"
    assert config.mirror.sample_rate == 0.05
    assert config.incumbent.url == "http://127.0.0.1:8001"


def test_env_default_and_trailing_slash() -> None:
    config = parse_config({"incumbent": {"url": "${UP:-http://h:1/base/}"}}, env={})
    assert config.incumbent.url == "http://h:1/base"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"incumbent": {"url": "ftp://x"}}, r"incumbent\.url: got 'ftp://x'; expected an http"),
        (
            {**MINIMAL, "mirror": {"sample_rate": 1.5}},
            r"mirror\.sample_rate: got 1\.5; expected less",
        ),
        ({**MINIMAL, "mirror": {"sample_key": "cookie:x"}}, r"mirror\.sample_key: got 'cookie:x'"),
        ({**MINIMAL, "mirorr": {}}, r"mirorr: unknown key; expected one of: listen, admin"),
        (
            {**MINIMAL, "candidates": [{"name": "a", "url": "http://c", "max_inflite": 3}]},
            r"candidates\[0\]\.max_inflite: unknown key; expected one of: .*max_inflight",
        ),
        ({"listen": {"port": 80}}, r"incumbent: missing"),
        (
            {
                **MINIMAL,
                "candidates": [{"name": "a", "url": "http://c"}, {"name": "a", "url": "http://d"}],
            },
            r"unique candidate names, 'a' repeats",
        ),
        (
            {"incumbent": {"url": "http://h", "headers": {"X": "${NOPE}"}}},
            r"incumbent\.headers\.X: environment variable \$\{NOPE\} is not set",
        ),
        ([1, 2], r"<root>: got list; expected a mapping"),
    ],
)
def test_bad_config_names_key_value_and_expectation(data: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(data, env={})


def test_yaml_syntax_error_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("incumbent: {url: [\n")
    with pytest.raises(ConfigError, match="expected valid YAML"):
        load_config(path)


def test_cli_bad_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("incumbent: {url: http://127.0.0.1:1}\nmirror: {sample_rate: -1}\n")
    for args in (("check-config", str(path)), ("serve", "--config", str(path))):
        done = run_cli(*args)
        assert done.returncode == 2, done.stderr
        assert "mirror.sample_rate" in done.stderr
        assert "-1" in done.stderr
