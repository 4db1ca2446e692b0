"""``darklaunch rollout`` run for real, in a subprocess, on a real Redis: status as a table and
as JSON, the manual actions with their audit trail, one controller tick, and the refusals
(an action the state does not allow, a config without ``rollout:``) as one line and exit 2."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import yaml

from tests.comparators.rollout.support import CANDIDATE, rollout_section, write_scores
from tests.proxy.config.cli import run_cli

ENV = {**os.environ, "USER": "tester"}


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


def _write_config(tmp_path: Path, redis_url: str, campaign: str, *, rollout: bool = True) -> Path:
    data = {
        "incumbent": {"url": "http://127.0.0.1:9"},
        "candidates": [{"name": CANDIDATE, "url": "http://127.0.0.1:9"}],
        "recording": {"redis_url": redis_url, "campaign": campaign},
    }
    if rollout:
        data["rollout"] = rollout_section()
    path = tmp_path / "darklaunch.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def config(tmp_path: Path, redis_url: str, campaign: str) -> Path:
    return _write_config(tmp_path, redis_url, campaign)


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    """The lenient policy of the controller's tests (``LENIENT``): a step of 40 pairs can
    PASS it (no tail checks: a p95 is bounded only from 59 pairs, a p99 from 299)."""
    path = tmp_path / "gate.yaml"
    path.write_text(
        "segments: false\nmax_excess_divergence: null\nmax_error_rate_increase: null\n"
        "max_refusal_rate_increase: null\nmax_p95_latency_ratio: null\n"
        "max_p99_latency_ratio: null\n"
    )
    return path


async def rollout(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command, *rest = args
    return await asyncio.to_thread(
        run_cli, "rollout", command, "--config", str(config), *rest, env=ENV
    )


async def test_status_of_a_dark_rollout_as_a_table(config: Path, policy: Path) -> None:
    done = await rollout(config, "status", "--policy", str(policy))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"rollout of {CANDIDATE} (campaign t-")
    assert lines[0].endswith("): dark (version 0)")
    assert "controller now: hold: not ramping" in lines
    steps = [line for line in lines if line.startswith("│ ") and "/5" in line]
    assert len(steps) == 5
    assert "│ 1/5  │    1% │ 0s           │ 30        │" in steps[0]
    assert "no changes yet" in lines


async def test_status_as_json_shows_what_the_controller_would_do(
    config: Path, policy: Path, client: aioredis.Redis, campaign: str
) -> None:
    assert (await rollout(config, "start")).returncode == 0
    await write_scores(client, campaign, 40)
    done = await rollout(config, "status", "--policy", str(policy), "--format", "json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert (doc["state"]["phase"], doc["state"]["step"], doc["state"]["version"]) == (
        "ramping", 0, 1,
    )  # fmt: skip
    assert [s["current"] for s in doc["steps"]] == [True, False, False, False, False]
    assert doc["guard"]["decision"] == "advance"
    assert doc["guard"]["pairs"] == 40
    assert doc["guard"]["reason"].startswith("every guard PASSes in step 1/5 on 40 pairs")
    assert {c["name"]: c["status"] for c in doc["guard"]["evidence"]["checks"]}["error_rate"] == (
        "PASS"
    )
    assert [h["action"] for h in doc["history"]] == ["start"]
    # status only says what the controller would do: it writes nothing.
    again = json.loads((await rollout(config, "status", "--format", "json")).stdout)
    assert again["state"]["version"] == 1


async def test_the_manual_actions_leave_an_audit_trail(config: Path) -> None:
    started = await rollout(config, "start")
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip().endswith(
        "start: dark -> ramping, step 1/5 at 1% (version 1, by cli:tester)"
    )
    for action in ("advance", "pause", "resume"):
        done = await rollout(config, action)
        assert done.returncode == 0, done.stderr
    back = await rollout(config, "rollback", "--reason", "p99 doubled in the EU")
    assert back.returncode == 0, back.stderr
    assert "rollback: ramping 2/5 -> rolled_back (version 5" in back.stdout
    done = await rollout(config, "history", "--format", "json")
    assert done.returncode == 0, done.stderr
    entries = json.loads(done.stdout)
    assert [(e["action"], e["to_phase"], e["to_step"]) for e in entries] == [
        ("start", "ramping", 0),
        ("advance", "ramping", 1),
        ("pause", "paused", 1),
        ("resume", "ramping", 1),
        ("rollback", "rolled_back", -1),
    ]
    assert {(e["actor"], e["cause"]) for e in entries} == {("cli:tester", "manual")}
    assert [e["reason"] for e in entries] == [
        "manual start", "manual advance", "manual pause", "manual resume",
        "p99 doubled in the EU",
    ]  # fmt: skip
    table = await rollout(config, "history")
    rows = [line for line in table.stdout.splitlines() if line.startswith("│ 20")]
    assert len(rows) == 5
    assert "│ rollback │ ramping 2/5 │ rolled_back │ cli:tester │ manual │ p99 doubled" in rows[-1]


@pytest.mark.parametrize(
    ("action", "needs"), [("advance", "ramping"), ("resume", "paused"), ("pause", "ramping")]
)
async def test_a_refused_action_is_one_line_and_exit_2(
    config: Path, campaign: str, action: str, needs: str
) -> None:
    done = await rollout(config, action)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"error: rollout {action} refused for campaign {campaign}: cannot {action} a rollout "
        f"that is dark; {action} needs one that is {needs}"
    ]


async def test_one_controller_tick_rolls_back_a_failing_step(
    config: Path, policy: Path, client: aioredis.Redis, campaign: str
) -> None:
    assert (await rollout(config, "start")).returncode == 0
    await write_scores(client, campaign, 20, errors=True)
    done = await rollout(config, "run", "--once", "--policy", str(policy))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("rolled_back: guard FAIL in step 1/5 on 20 pairs: error_rate 1 ")
    assert "rollout of cand-a" in done.stderr  # the transition's WARNING line
    history = json.loads((await rollout(config, "history", "--format", "json")).stdout)
    assert (history[-1]["cause"], history[-1]["actor"]) == ("guard", "controller")


@pytest.mark.parametrize("command", ["status", "start", "rollback", "history", "run"])
async def test_a_config_without_rollout_is_one_line_and_exit_2(
    tmp_path: Path, redis_url: str, campaign: str, command: str
) -> None:
    path = _write_config(tmp_path, redis_url, campaign, rollout=False)
    done = await rollout(path, command)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"error: rollout: not set in {path}; expected a rollout: section "
        "(rollout: {candidate: <name>, steps: [0.01, 0.05, 0.25, 1]}) to steer"
    ]
