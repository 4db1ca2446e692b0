"""The ``darklaunch`` command as a person meets it: run for real, in a subprocess, with its
output read from pipes (not a terminal), as in a CI log."""

from __future__ import annotations

import importlib.metadata
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from proxy import __version__
from tests.proxy.config.cli import run_cli


def _config(tmp_path: Path, **sections: object) -> Path:
    data = {
        "incumbent": {"url": "http://127.0.0.1:9"},
        "recording": {"data_dir": str(tmp_path / "data")},
        **sections,
    }
    path = tmp_path / "darklaunch.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another process listens on (this one, without SO_REUSEPORT)."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield int(held.getsockname()[1])


def test_a_bad_config_is_one_plain_error_line_never_literal_markup(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("incumbent: {url: http://127.0.0.1:1}\nmirror: {sample_rate: [0.5]}\n")
    done = run_cli("check-config", str(path))
    assert done.returncode == 2
    first, *rest = done.stderr.splitlines()
    assert first == f"error: invalid config {path}:"
    assert rest == ["  mirror.sample_rate: got [0.5]; expected a valid number"]
    assert "[red]" not in done.stderr
    assert "\x1b[" not in done.stderr  # not a terminal: no colour codes either


def test_on_a_terminal_error_is_red(tmp_path: Path) -> None:
    # FORCE_COLOR makes rich treat the pipe as a terminal, as a person's shell would be.
    done = run_cli(
        "check-config", str(tmp_path / "missing.yaml"), env={**os.environ, "FORCE_COLOR": "1"}
    )
    assert done.returncode == 2
    assert done.stderr.startswith("\x1b[1;31merror:\x1b[0m ")
    assert "[red]" not in done.stderr


@pytest.mark.parametrize(("listener", "key"), [("public", "listen.port"), ("admin", "admin.port")])
def test_a_taken_port_is_one_line_naming_the_listener_and_address(
    tmp_path: Path, taken_port: int, unused_tcp_port: int, listener: str, key: str
) -> None:
    ports = {"public": unused_tcp_port, "admin": unused_tcp_port, listener: taken_port}
    path = _config(
        tmp_path,
        listen={"host": "127.0.0.1", "port": ports["public"]},
        admin={"host": "127.0.0.1", "port": ports["admin"]},
    )
    done = run_cli("serve", "--config", str(path), "--log-level", "error")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"error: {key}: cannot listen on 127.0.0.1:{taken_port} ({listener} listener): "
        "address already in use; expected a port no other process listens on"
    ]


def test_a_taken_port_at_the_default_log_level_has_no_traceback(
    tmp_path: Path, taken_port: int
) -> None:
    path = _config(tmp_path, listen={"host": "127.0.0.1", "port": taken_port})
    done = run_cli("serve", "--config", str(path))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1].startswith(
        f"error: listen.port: cannot listen on 127.0.0.1:{taken_port} (public listener)"
    )


def test_an_unknown_log_level_lists_the_allowed_ones(tmp_path: Path) -> None:
    done = run_cli("serve", "--config", str(_config(tmp_path)), "--log-level", "foo")
    assert done.returncode == 2
    assert done.stderr == "error: --log-level 'foo'; expected one of DEBUG, INFO, WARNING, ERROR\n"


def test_version_is_the_package_version() -> None:
    done = run_cli("--version")
    assert done.returncode == 0
    assert done.stdout == f"darklaunch {__version__}\n"
    assert __version__ == importlib.metadata.version("darklaunch")


def test_help_reads_normally() -> None:
    """No type label on flags (typer's rich panel printed ``--help <bool>``), and every
    command's summary whole, not cut off with ``...``."""
    root = run_cli("--help")
    serve = run_cli("serve", "--help")
    assert root.returncode == serve.returncode == 0
    assert "<bool>" not in root.stdout + serve.stdout
    assert "--version  Print the version and exit." in root.stdout
    assert any(
        line.split() == ["--json-logs", "Log", "JSON", "lines."]
        for line in serve.stdout.splitlines()
    )
    commands = root.stdout.split("Commands:\n")[1].splitlines()
    assert commands
    assert not [line for line in commands if line.endswith("...")]


def test_workers_that_cannot_listen_are_not_restarted(tmp_path: Path, taken_port: int) -> None:
    """Under ``--workers`` the supervisor stops at a worker's exit 2: a restart would only
    find the port taken again (it restarted ten times, then exited 1)."""
    path = _config(tmp_path, listen={"host": "127.0.0.1", "port": taken_port})
    done = run_cli("serve", "--config", str(path), "--workers", "2", "--log-level", "error")
    assert done.returncode == 2
    assert f"error: listen.port: cannot listen on 127.0.0.1:{taken_port}" in done.stderr
    assert "restarting" not in done.stderr
