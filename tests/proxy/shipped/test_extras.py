"""The ``[analysis]`` extra: what it holds, how a missing one is found, and that ``serve``
never needs it (tests/test_packaging.py runs the same from a slim install)."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
import tomllib
from pathlib import Path

import aiohttp
import yaml

from proxy.shipped.extras import ANALYSIS, extra_hint, missing_requirements, unmet
from proxy.sim.profile import SimProfile
from proxy.sim.server import running_simulator
from tests.conftest import read_records

ROOT = Path(__file__).resolve().parents[3]
HEAVY = {
    "numpy",
    "scipy",
    "wordllama",
    "matplotlib",
    "rapidfuzz",
    "openai",
    "jinja2",  # the review app
    "markdown-it-py",
}
PROFILE = SimProfile(name="incumbent", model="big-model-v1", latency_ms=1, token_interval_ms=0)


def _name(requirement: str) -> str:
    found = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert found is not None, requirement
    return found.group(0).lower()


def test_pyproject_keeps_the_analysis_plane_out_of_the_core() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {_name(r) for r in project["dependencies"]}
    extra = {_name(r) for r in project["optional-dependencies"][ANALYSIS]}
    assert extra == HEAVY
    assert core.isdisjoint(HEAVY)
    assert "darklaunch[analysis]" in project["optional-dependencies"]["dev"]


def test_unmet_finds_what_an_extra_lacks() -> None:
    requires = [
        "orjson>=3",
        'orjson>=3; python_version >= "3.8"',  # a platform marker is not an extra
        'numpy>=1.26; extra == "analysis"',
        'no-such-distribution-xyz>=1; extra == "analysis"',
        'another-missing-xyz; extra == "dev"',
        'darklaunch[analysis]; extra == "dev"',
    ]
    assert unmet(requires, "analysis") == ["no-such-distribution-xyz"]
    assert unmet(requires, "dev") == ["another-missing-xyz", "no-such-distribution-xyz"]
    assert unmet(requires, "docs") == []


def test_the_development_install_has_the_extra() -> None:
    assert missing_requirements(ANALYSIS) == []
    assert extra_hint("compare") is None
    assert missing_requirements(ANALYSIS, distribution="no-such-distribution-xyz") == []


HOOK = """
import atexit, json, sys
out, config = sys.argv[1], sys.argv[2]
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
sys.argv = ["darklaunch", "serve", "--config", config]
from proxy.cli import main
main()
"""


async def test_serve_never_imports_the_analysis_plane(
    tmp_path: Path, redis_url: str, campaign: str
) -> None:
    """What ``serve`` loads, answering and mirroring a request and recording the pair, then
    draining on SIGTERM: nothing of the analysis extra and nothing of ``comparators``."""
    async with (
        running_simulator(PROFILE) as incumbent,
        running_simulator(PROFILE.model_copy(update={"name": "candidate"})) as candidate,
    ):
        config = {
            "listen": {"host": "127.0.0.1", "port": 0},
            "admin": {"host": "127.0.0.1", "port": 0},
            "incumbent": {"url": incumbent.url},
            "candidates": [{"name": "cand", "url": candidate.url}],
            "mirror": {"sample_rate": 1.0},
            "recording": {"redis_url": redis_url, "campaign": campaign},
        }
        path = tmp_path / "darklaunch.yaml"
        path.write_text(yaml.safe_dump(config))
        modules = tmp_path / "modules.json"
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", HOOK, str(modules), str(path),
            cwd=tmp_path, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert process.stderr is not None
        async with asyncio.timeout(30):
            while not (
                found := re.search(rb"proxy on (http://\S+),", await process.stderr.readline())
            ):
                assert process.returncode is None
        body = {"model": "big-model-v1", "messages": [{"role": "user", "content": "hi"}]}
        async with aiohttp.ClientSession() as session:
            url = found.group(1).decode() + "/v1/chat/completions"
            async with session.post(url, json=body) as response:
                assert response.status == 200
        async with asyncio.timeout(30):
            while not await read_records(redis_url, campaign):  # noqa: ASYNC110 - another process writes it
                await asyncio.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        await process.stderr.read()
        assert await process.wait() == 0
    loaded = set(json.loads(modules.read_text()))
    assert "proxy.server" in loaded
    assert "proxy.recording.writer" in loaded
    assert sorted(m for m in loaded if m.split(".")[0] in HEAVY | {"comparators"}) == []
