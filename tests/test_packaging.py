"""The wheel, installed as a user installs it: into clean virtualenvs outside the repository,
run from folders that are not the source tree, the two ways the Dockerfile's stages install
it: ``proxy`` (the wheel alone) and ``full`` (with ``[analysis]``).

There is no Docker engine on our machines, so the image is not built here. The tests run what
its stages run instead: build the wheel from the files the build stage copies, pip install it,
lay out the files the proxy stage copies under a temporary root, and run its ENTRYPOINT and
HEALTHCHECK with its ENV, from (the equivalent of) its WORKDIR.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import aiohttp
import pytest
import yaml

from proxy.shipped.files import SHIPPED
from proxy.sim.profile import SimProfile
from proxy.sim.server import running_simulator
from tests.dockerfile import (
    ROOT,
    copy_into,
    entrypoint,
    env,
    healthcheck_command,
    instructions,
)

# What a slim install lacks of the analysis extra (markdown-it-py is not among them: rich,
# a core dependency, brings it).
HEAVY = ("numpy", "scipy", "wordllama", "matplotlib", "rapidfuzz", "openai", "jinja2")
HINT = (
    "error: darklaunch {command} needs the 'analysis' extra, which is not installed "
    f"(missing: {', '.join(HEAVY)}); install it with: pip install 'darklaunch[analysis]'"
)
VERDICT_EXIT = {"PASS": 0, "FAIL": 1, "INCONCLUSIVE": 3}


def _run(
    *args: str | Path, cwd: Path, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run outside the repository: nothing of this process's environment may put the source
    tree (PYTHONPATH), this venv (VIRTUAL_ENV) or a config (DARKLAUNCH_CONFIG) in its way."""
    if env is None:
        stray = ("PYTHONPATH", "VIRTUAL_ENV", "DARKLAUNCH_CONFIG")
        env = {k: v for k, v in os.environ.items() if k not in stray}
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )


def _ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, f"{done.args}: {done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _darklaunch_configs() -> list[Path]:
    found = []
    for path in sorted([*ROOT.glob("config/*.yaml"), *ROOT.glob("deploy/*.yaml")]):
        data = yaml.safe_load(path.read_text())
        if isinstance(data, dict) and "incumbent" in data:
            found.append(path)
    return found


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built as the Dockerfile's build stage builds it: from the files that stage copies, in a
    folder of their own (a build/ folder left in the checkout could add stale modules)."""
    context = tmp_path_factory.mktemp("context")
    copy_into("build", context / "root", workdir=context)
    dist = tmp_path_factory.mktemp("dist")
    _ok(
        _run(
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--outdir",
            dist,
            ".",
            cwd=context,
            timeout=300,
        )
    )
    (built,) = dist.glob("darklaunch-*.whl")
    return built


def _venv(folder: Path, *requirements: str) -> Path:
    """A clean virtualenv with ``requirements`` installed one pip call after the other, as
    the Dockerfile's stages install them; returns its bin folder. ``--no-compile`` halves the
    install time (no bytecode for scipy and matplotlib), and changes nothing that runs."""
    venv.create(folder, with_pip=True)
    pip = (folder / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-compile")
    for requirement in requirements:
        _ok(_run(*pip, requirement, cwd=folder, timeout=600))
    return folder / "bin"


@pytest.fixture(scope="module")
def proxy_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip install darklaunch``: the Dockerfile's proxy stage."""
    return _venv(tmp_path_factory.mktemp("proxy-venv"), str(wheel))


@pytest.fixture(scope="module")
def full_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The full stage: the proxy stage's install, then the same wheel with ``[analysis]``."""
    return _venv(tmp_path_factory.mktemp("full-venv"), str(wheel), f"{wheel}[analysis]")


def test_the_wheel_holds_the_sources_the_shipped_files_and_the_extra(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(next(n for n in names if n.endswith("METADATA"))).decode()
    # Exactly the source tree's modules: every subpackage, and nothing a stale build/ folder
    # kept of modules that were moved or deleted since.
    sources = {
        p.relative_to(ROOT).as_posix()
        for top in ("proxy", "comparators")
        for p in (ROOT / top).rglob("*.py")
    }
    assert {n for n in names if n.endswith(".py")} == sources
    assert {"proxy/py.typed", "comparators/py.typed"} <= names
    assert {f"proxy/shipped/data/{name}" for name in SHIPPED} <= names
    assert "Version: 0.1.0" in metadata
    assert "License-Expression: Apache-2.0" in metadata or "License: Apache-2.0" in metadata
    assert "Classifier: Programming Language :: Python :: 3.11" in metadata
    assert "Provides-Extra: analysis" in metadata
    requires = re.findall(r"^Requires-Dist: (.+)$", metadata, flags=re.MULTILINE)
    for heavy in HEAVY:
        (line,) = [r for r in requires if re.match(rf"{heavy}\b", r)]
        assert line.endswith('; extra == "analysis"'), line


def test_the_slim_install_validates_configs_and_names_the_missing_extra(
    proxy_venv: Path, tmp_path: Path
) -> None:
    found = _ok(_run(proxy_venv / "python", "-c", _FIND_HEAVY, cwd=tmp_path)).stdout.split()
    assert found == []
    where = _run(proxy_venv / "python", "-c", "import proxy; print(proxy.__file__)", cwd=tmp_path)
    assert where.stdout.startswith(str(proxy_venv.parent)), "the wheel, not the source tree"
    for path in _darklaunch_configs():
        _ok(_run(proxy_venv / "darklaunch", "check-config", path, cwd=tmp_path))
    _ok(_run(proxy_venv / "darklaunch", "init", "starter", cwd=tmp_path))
    config = str(tmp_path / "starter" / "darklaunch.yaml")
    for command, *args in (
        ["compare", "--config", config, "--once"],
        ["report", "--config", config],
        ["gate", "--config", config],
        ["campaigns", "--config", config],
        ["export", "--config", config, "--where", "divergence > 0.5", "--out", "golden"],
        ["demo"],
    ):
        done = _run(proxy_venv / "darklaunch", command, *args, cwd=tmp_path)
        assert (done.returncode, done.stderr.splitlines()) == (2, [HINT.format(command=command)])
    assert not (tmp_path / "golden").exists()


_FIND_HEAVY = (
    "import importlib.util\n"
    f"print(' '.join(m for m in {HEAVY!r} if importlib.util.find_spec(m) is not None))"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _image_layout(root: Path) -> tuple[Path, dict[str, str]]:
    """The proxy stage's files under ``root`` (``/etc/x`` -> ``root/etc/x``): its WORKDIR and
    its ENV, with paths moved under ``root`` too."""
    (workdir,) = instructions("proxy", "WORKDIR")
    assert copy_into("proxy", root, workdir=root / workdir.lstrip("/"))
    variables = {
        key: str(root / value.lstrip("/")) if value.startswith("/") else value
        for key, value in env("proxy").items()
    }
    (root / workdir.lstrip("/")).mkdir(parents=True, exist_ok=True)
    return root / workdir.lstrip("/"), variables


async def test_the_proxy_image_checks_its_config_serves_and_stops(
    proxy_venv: Path, tmp_path: Path
) -> None:
    """The image's own config, from the image's working directory: it validates, listens on
    every interface (127.0.0.2 reaches it; a 127.0.0.1 bind would refuse), the HEALTHCHECK
    passes, a request is proxied, SIGTERM drains it, and state stays in the WORKDIR."""
    workdir, image_env = _image_layout(tmp_path / "root")
    profile = SimProfile(name="incumbent", model="big-model-v1", latency_ms=1, token_interval_ms=0)
    async with (
        running_simulator(profile) as incumbent,
        running_simulator(profile.model_copy(update={"name": "candidate"})) as candidate,
    ):
        environment = {
            "PATH": f"{proxy_venv}:/usr/bin:/bin",
            "HOME": str(tmp_path),
            **image_env,
            "INCUMBENT_URL": incumbent.url,
            "CANDIDATE_URL": candidate.url,
            "DARKLAUNCH_PORT": str(port := _free_port()),
            "DARKLAUNCH_ADMIN_PORT": str(_free_port()),
        }
        config = image_env["DARKLAUNCH_CONFIG"]
        checked = _ok(_run("darklaunch", "check-config", config, cwd=workdir, env=environment))
        effective = yaml.safe_load(checked.stdout)
        assert (effective["listen"]["host"], effective["listen"]["port"]) == ("0.0.0.0", port)
        assert effective["admin"]["host"] == "0.0.0.0"
        process = await asyncio.create_subprocess_exec(
            *entrypoint("proxy"), cwd=workdir, env=environment,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            await _until_healthy(process, workdir, environment)
            body = {"model": "big-model-v1", "messages": [{"role": "user", "content": "hi"}]}
            async with (
                aiohttp.ClientSession() as session,
                session.post(f"http://127.0.0.2:{port}/v1/chat/completions", json=body) as answer,
            ):
                assert answer.status == 200
                assert (await answer.json())["model"] == "big-model-v1"
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.stderr is not None
            log = (await process.stderr.read()).decode()
        assert await process.wait() == 0, log
    assert (workdir / ".darklaunch" / "redis").is_dir()
    config_folder = Path(image_env["DARKLAUNCH_CONFIG"]).parent
    assert [p.name for p in config_folder.iterdir()] == ["darklaunch.yaml"]


async def _until_healthy(
    process: asyncio.subprocess.Process, workdir: Path, environment: dict[str, str]
) -> None:
    """Run the image's HEALTHCHECK command until it passes, as Docker would."""
    async with asyncio.timeout(60):
        while True:
            assert process.returncode is None, "darklaunch serve exited before it was healthy"
            check = await asyncio.create_subprocess_exec(
                "/bin/sh", "-c", healthcheck_command("proxy"), cwd=workdir, env=environment,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            if await check.wait() == 0:
                return
            await asyncio.sleep(0.2)


def test_the_full_install_runs_the_demo_and_gates_from_any_folder(
    full_venv: Path, tmp_path: Path
) -> None:
    """The demo's client (openai) and the analysis plane come with ``[analysis]``; the gate's
    default policy comes from the package, whatever the working directory."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    demo = _run(full_venv / "darklaunch", "demo", "--duration", "3", "--rate", "10",
                "--data-dir", tmp_path / "demo", cwd=elsewhere, timeout=180)  # fmt: skip
    verdict = re.search(r"^verdict: (PASS|FAIL|INCONCLUSIVE) \(exit (\d)\)$", demo.stdout, re.M)
    assert verdict is not None, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert int(verdict.group(2)) == VERDICT_EXIT[verdict.group(1)]
    assert demo.returncode == VERDICT_EXIT[verdict.group(1)], demo.stderr[-3000:]
    assert (tmp_path / "demo" / "report.html").is_file()
    config = tmp_path / "conf" / "darklaunch.yaml"
    config.parent.mkdir()
    config.write_text(
        yaml.safe_dump(
            {
                "incumbent": {"url": "http://127.0.0.1:9"},
                "recording": {"campaign": "demo", "data_dir": "../demo/redis"},
            }
        )
    )
    gate = _run(full_venv / "darklaunch", "gate", "--config", config, "--json", cwd=elsewhere)
    result = json.loads(gate.stdout)
    assert gate.returncode == result["exit_code"] == VERDICT_EXIT[result["verdict"]], gate.stderr
    shipped = yaml.safe_load((ROOT / "config" / "gate.yaml").read_text())
    assert result["policy"]["min_pairs"] == shipped["min_pairs"] == 500
