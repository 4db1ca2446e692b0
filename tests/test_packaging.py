"""The wheel builds, installs into a fresh venv and runs; the Dockerfile installs the same way.

There is no Docker engine on our machines, so the image itself is not built here. Instead the
test runs the commands the Dockerfile's stages run (build the wheel, pip install it) and checks
that every file the Dockerfile copies exists.
"""

from __future__ import annotations

import re
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _run(
    *args: str | Path, cwd: Path = ROOT, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done


def _darklaunch_configs() -> list[Path]:
    found = []
    for path in sorted([*ROOT.glob("config/*.yaml"), *ROOT.glob("deploy/*.yaml")]):
        data = yaml.safe_load(path.read_text())
        if isinstance(data, dict) and "incumbent" in data:
            found.append(path)
    return found


def test_dockerfile_copies_only_what_exists_and_installs_the_wheel() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.split(r"^FROM ", text, flags=re.MULTILINE)[1:]
    assert len(stages) == 2, "expected a build stage and a runtime stage"
    assert stages[0].startswith("python:3.11-slim AS build")
    assert "python -m build --wheel" in stages[0]
    assert re.search(r"pip install --no-cache-dir /tmp/\*\.whl", stages[1])
    assert "USER darklaunch" in stages[1]
    assert 'ENTRYPOINT ["darklaunch", "serve"]' in stages[1]
    assert "HEALTHCHECK" in stages[1]
    assert "/healthz" in stages[1]
    for line in re.findall(r"^COPY (?!--from)(.+)$", text, flags=re.MULTILINE):
        *sources, _destination = line.split()
        for source in sources:
            assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"


def test_every_config_file_validates() -> None:
    configs = _darklaunch_configs()
    assert {p.name for p in configs} >= {"darklaunch.yaml"}
    assert len(configs) >= 2
    for path in configs:
        _run(sys.executable, "-m", "proxy", "check-config", path)


def test_wheel_installs_into_a_fresh_venv_and_runs(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "build", "--wheel", "--outdir", dist, ".")
    (wheel,) = dist.glob("darklaunch-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(next(n for n in names if n.endswith("METADATA"))).decode()
    shipped = {"proxy/py.typed", "comparators/py.typed", "comparators/pricing/default_prices.json"}
    assert shipped <= names
    # Every subpackage ships, not just the top-level folders.
    # Exactly the source tree's modules: every subpackage, and nothing a stale build/ folder
    # kept of modules that were moved or deleted since.
    sources = {
        p.relative_to(ROOT).as_posix()
        for top in ("proxy", "comparators")
        for p in (ROOT / top).rglob("*.py")
    }
    assert {n for n in names if n.endswith(".py")} == sources
    assert "Version: 0.1.0" in metadata
    assert "License-Expression: Apache-2.0" in metadata or "License: Apache-2.0" in metadata
    assert "Classifier: Programming Language :: Python :: 3.11" in metadata
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    _run(env / "bin" / "python", "-m", "pip", "install", "--quiet", wheel, timeout=600)
    help_text = _run(env / "bin" / "darklaunch", "--help").stdout
    for command in ("serve", "check-config", "compare", "demo"):
        assert command in help_text
    for path in _darklaunch_configs():
        _run(env / "bin" / "darklaunch", "check-config", path)
