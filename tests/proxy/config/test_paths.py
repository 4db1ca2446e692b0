"""Relative paths in a config file resolve against the file's folder, never the working
directory: the image's config (in /etc/darklaunch, run from /var/lib/darklaunch) named
``prices.file: config/prices.json`` and could not start."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

import pytest
import yaml
from pydantic import BaseModel

from proxy.config.base import ConfigError, ConfigPath
from proxy.config.loading import load_config, parse_config
from proxy.config.root import Config

RESOLVER = get_args(ConfigPath)[1]  # Annotated[Path, <the resolver>]


def _write_config(folder: Path, **extra: Any) -> Path:
    """A config naming every path-typed key relatively, and the files they point at."""
    folder.mkdir(parents=True)
    (folder / "prices.json").write_text(
        '{"m": {"input_cost_per_token": 0, "output_cost_per_token": 0}}'
    )
    (folder / "tls").mkdir()
    (folder / "tls" / "ca.pem").write_text("placeholder: only its existence is validated\n")
    data = {
        "incumbent": {"url": "http://127.0.0.1:8001", "ca_bundle": "tls/ca.pem"},
        "candidates": [{"name": "c", "url": "http://127.0.0.1:8002", "ca_bundle": "tls/ca.pem"}],
        "fallback": {"url": "http://127.0.0.1:8003", "ca_bundle": "tls/ca.pem"},
        "recording": {"data_dir": "state/redis", "spool_dir": "state/spool"},
        "prices": {"file": "prices.json"},
        **extra,
    }
    path = folder / "darklaunch.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_relative_paths_resolve_against_the_config_folder_whatever_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write_config(tmp_path / "etc")
    elsewhere = tmp_path / "workdir"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(Path("..") / "etc" / "darklaunch.yaml")
    folder = (tmp_path / "etc").absolute()
    assert config.prices.file == folder / "prices.json"
    assert config.recording.data_dir == folder / "state" / "redis"
    assert config.recording.spool_dir == folder / "state" / "spool"
    assert config.incumbent.ca_bundle == folder / "tls" / "ca.pem"
    assert config.candidates[0].ca_bundle == folder / "tls" / "ca.pem"
    assert config.fallback is not None
    assert config.fallback.ca_bundle == folder / "tls" / "ca.pem"
    assert load_config(path) == config  # the same file read from its own folder


def test_absolute_paths_and_defaults_are_kept(tmp_path: Path) -> None:
    """A default is the process's own state: it stays under the working directory."""
    absolute = tmp_path / "spool"
    path = tmp_path / "c.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "incumbent": {"url": "http://127.0.0.1:8001"},
                "recording": {"spool_dir": str(absolute)},
            }
        )
    )
    config = load_config(path)
    assert config.recording.spool_dir == absolute
    assert config.recording.data_dir == Path(".darklaunch/redis")
    assert config.prices.file is None


def test_a_config_without_a_file_keeps_relative_paths() -> None:
    config = parse_config(
        {"incumbent": {"url": "http://127.0.0.1:8001"}, "recording": {"data_dir": "here"}}
    )
    assert config.recording.data_dir == Path("here")
    rooted = parse_config(
        {"incumbent": {"url": "http://127.0.0.1:8001"}, "recording": {"data_dir": "here"}},
        config_dir=Path("/srv/dl"),
    )
    assert rooted.recording.data_dir == Path("/srv/dl/here")


def test_a_missing_file_is_reported_where_it_was_looked_for(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "c.yaml"
    path.parent.mkdir()
    path.write_text("incumbent: {url: 'http://127.0.0.1:8001'}\nprices: {file: prices.json}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    (problem,) = caught.value.problems
    assert problem.startswith("prices.file: got 'prices.json'; expected an existing JSON price")
    assert str(tmp_path / "conf" / "prices.json") in problem


def test_check_config_from_another_folder_prints_the_resolved_paths(tmp_path: Path) -> None:
    path = _write_config(tmp_path / "etc")
    elsewhere = tmp_path / "workdir"
    elsewhere.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "proxy", "check-config", str(path)],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    effective = yaml.safe_load(done.stdout)
    assert effective["prices"]["file"] == str(path.parent / "prices.json")
    assert effective["recording"]["data_dir"] == str(path.parent / "state" / "redis")


def _path_annotations(annotation: Any, metadata: list[Any]) -> Iterator[bool]:
    """For each ``Path`` inside an annotation: does it resolve against the config folder?"""
    if get_origin(annotation) is Annotated:
        base, *inner = get_args(annotation)
        yield from _path_annotations(base, [*metadata, *inner])
    elif annotation is Path:
        yield RESOLVER in metadata
    else:
        for arg in get_args(annotation):
            yield from _path_annotations(arg, [])


def _path_fields(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, bool]]:
    for name, field in model.model_fields.items():
        where = f"{prefix}{name}"
        for resolves in _path_annotations(field.annotation, list(field.metadata)):
            yield where, resolves
        for arg in [field.annotation, *get_args(field.annotation)]:
            for inner in [arg, *get_args(arg)]:
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    yield from _path_fields(inner, f"{where}.")


def test_every_path_key_resolves_against_the_config_folder() -> None:
    """A path-typed key added later gets the same rule, or this test names it."""
    fields = dict(_path_fields(Config))
    assert set(fields) >= {
        "incumbent.ca_bundle",
        "candidates.ca_bundle",
        "fallback.ca_bundle",
        "recording.data_dir",
        "recording.spool_dir",
        "prices.file",
    }
    assert sorted(name for name, resolves in fields.items() if not resolves) == []
