from __future__ import annotations

from pathlib import Path

from proxy.config.loading import parse_config
from proxy.config.masking import masked_dump
from tests.proxy.config.cli import run_cli


def test_masked_dump_hides_every_secret() -> None:
    config = parse_config(
        {
            "incumbent": {
                "url": "https://user:hunter2@gw.example:8443/v1",
                "headers": {"Authorization": "Bearer sk-live", "X-Team": "ml"},
            },
            "admin": {"token": "admintoken"},
            "candidates": [{"name": "c", "url": "http://c", "headers": {"api-key": "azkey"}}],
        }
    )
    dumped = str(masked_dump(config))
    for secret in ("hunter2", "sk-live", "admintoken", "azkey"):
        assert secret not in dumped
    assert "'X-Team': 'ml'" in dumped


def test_cli_check_config_prints_masked_effective_config(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(
        "incumbent: {url: http://127.0.0.1:1, headers: {Authorization: 'Bearer sk-abc123'}}\n"
    )
    done = run_cli("check-config", str(path))
    assert done.returncode == 0, done.stderr
    assert "sk-abc123" not in done.stdout
    assert "sample_rate: 0.05" in done.stdout
