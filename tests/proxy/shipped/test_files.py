"""The shipped files: one source of truth each, found from the package wherever it is
installed, and written out by ``darklaunch init``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from comparators.gate.policy import GatePolicy, load_policy
from proxy.config.loading import load_config
from proxy.shipped.files import SHIPPED, read_shipped, shipped_path, write_shipped

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "proxy" / "shipped" / "data"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "proxy", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_the_table_lists_every_shipped_file_and_each_reads_from_the_package() -> None:
    on_disk = {p.relative_to(DATA).as_posix() for p in DATA.rglob("*") if p.is_file()}
    assert on_disk == set(SHIPPED)
    for name in SHIPPED:
        assert shipped_path(name) == DATA / name
        assert read_shipped(name) == (DATA / name).read_bytes() != b""


def test_config_folder_links_to_the_shipped_files() -> None:
    """``config/`` is where a checkout's users look; each file there is a link to the one
    the wheel ships, never a second copy that could drift."""
    for name in SHIPPED:
        linked = ROOT / "config" / name
        assert linked.is_symlink(), f"config/{name}: expected a symlink into proxy/shipped/data"
        assert linked.resolve() == (DATA / name).resolve()
    assert not (ROOT / "comparators" / "pricing" / "default_prices.json").exists()


def test_the_default_policy_is_the_gates_defaults() -> None:
    assert load_policy(shipped_path("gate.yaml")) == GatePolicy()


def test_an_unknown_name_is_refused() -> None:
    with pytest.raises(ValueError, match=r"'judge\.md': not shipped; expected one of: "):
        read_shipped("judge.md")


def test_written_files_match_and_are_never_half_overwritten(tmp_path: Path) -> None:
    written = write_shipped(tmp_path / "starter")
    assert [p.relative_to(tmp_path / "starter").as_posix() for p in written] == list(SHIPPED)
    for name in SHIPPED:
        assert (tmp_path / "starter" / name).read_bytes() == read_shipped(name)
    edited = tmp_path / "starter" / "gate.yaml"
    edited.write_text("min_pairs: 10\n")
    (tmp_path / "starter" / "prices.json").unlink()
    with pytest.raises(FileExistsError, match=r"gate\.yaml"):
        write_shipped(tmp_path / "starter")
    assert edited.read_text() == "min_pairs: 10\n"
    assert not (tmp_path / "starter" / "prices.json").exists()
    write_shipped(tmp_path / "starter", overwrite=True)
    assert edited.read_bytes() == read_shipped("gate.yaml")


def test_init_writes_a_starter_that_validates_from_any_folder(tmp_path: Path) -> None:
    done = _cli("init", "starter", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"wrote starter/{name}" for name in SHIPPED]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    config = load_config(tmp_path / "starter" / "darklaunch.yaml")
    assert config.prices.file == tmp_path / "starter" / "prices.json"
    checked = _cli("check-config", str(tmp_path / "starter" / "darklaunch.yaml"), cwd=elsewhere)
    assert checked.returncode == 0, checked.stderr
    assert yaml.safe_load(checked.stdout)["prices"]["file"] == str(config.prices.file)
    again = _cli("init", "starter", cwd=tmp_path)
    assert again.returncode == 2
    (line,) = again.stderr.splitlines()
    assert line.startswith("error: starter/darklaunch.yaml, starter/gate.yaml")
    assert line.endswith("already exist; expected a folder without them (or --force to overwrite)")
