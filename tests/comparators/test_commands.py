"""``darklaunch report``, ``gate`` and ``campaigns`` run for real on a real Redis, with their
output read from a pipe, as a CI job reads it."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import yaml

from proxy.recording.keys import pairs_key, scores_key
from tests.comparators.score_factories import score
from tests.proxy.config.cli import run_cli

PAIRS = 40


@pytest.fixture
async def recorded(redis_url: str, campaign: str) -> AsyncIterator[str]:
    """``campaign`` with 40 pairs whose candidate failed every time: a clear FAIL."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        for i in range(PAIRS):
            # Only the count of pair entries matters here; the report reads the scores.
            await client.xadd(pairs_key(campaign), {"record": b"{}"})
            record = score(f"p{i}", campaign=campaign, mirror="cand-a", mirror_error=True)
            await client.xadd(scores_key(campaign), {"record": record.model_dump_json()})
        yield campaign
    finally:
        await client.aclose()


@pytest.fixture
def config(tmp_path: Path, redis_url: str) -> Path:
    path = tmp_path / "darklaunch.yaml"
    path.write_text(
        yaml.safe_dump(
            {"incumbent": {"url": "http://127.0.0.1:9"}, "recording": {"redis_url": redis_url}}
        )
    )
    return path


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "gate.yaml"
    path.write_text("min_pairs: 20\n")
    return path


def _printed_exit(text: str) -> int:
    found = re.findall(r"verdict: (?:PASS|FAIL|INCONCLUSIVE) \(exit (\d)\)", text)
    assert len(found) == 1, text
    return int(found[0])


def test_gate_table_keeps_one_line_per_check_in_a_log(
    config: Path, policy: Path, recorded: str
) -> None:
    done = run_cli("gate", "--config", str(config), "--campaign", recorded, "--policy", str(policy))
    assert done.returncode == 1, done.stderr
    assert _printed_exit(done.stdout) == 1
    rows = [line for line in done.stdout.splitlines() if line.startswith("│ cand-a ")]
    assert len(rows) >= 5
    assert any(re.match(r"│ cand-a\s+│ error_rate\s+│ FAIL\s+│ 100\.00%", row) for row in rows)
    assert all(row.endswith("│") for row in rows)  # the method column is whole, too


@pytest.mark.parametrize("command", ["gate", "report"])
def test_markdown_is_a_table_a_pull_request_comment_shows(
    config: Path, policy: Path, recorded: str, command: str
) -> None:
    done = run_cli(
        command,
        *("--config", str(config), "--campaign", recorded, "--policy", str(policy)),
        *("--format", "markdown"),
    )
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    header = (
        "| candidate | check | status | measured | bounds | limit | FAILs from | n | decides at "
        "| method |"
    )
    assert lines[lines.index(header) + 1] == "| --- " * 10 + "|"
    assert any(line.startswith("| cand-a | error_rate | FAIL | 100.00% |") for line in lines)
    assert lines[-1] == "**verdict: FAIL (exit 1)**"
    if command == "report":
        assert "| metric | candidate | incumbent / noise | difference |" in lines


def test_report_with_a_policy_exits_with_the_code_it_prints(
    config: Path, policy: Path, recorded: str
) -> None:
    done = run_cli(
        "report", "--config", str(config), "--campaign", recorded, "--policy", str(policy)
    )
    assert done.returncode == _printed_exit(done.stdout) == 1
    without = run_cli("report", "--config", str(config), "--campaign", recorded)
    assert without.returncode == 0
    assert "verdict:" not in without.stdout


@pytest.mark.parametrize("command", ["report", "gate", "export"])
def test_a_campaign_without_pairs_exits_4_and_names_the_campaigns_there(
    config: Path, recorded: str, tmp_path: Path, command: str
) -> None:
    extra = ("--where", "divergence > 0.5", "--out", str(tmp_path / "gold"))
    done = run_cli(
        command,
        *("--config", str(config), "--campaign", "no-such-campaign"),
        *(extra if command == "export" else ()),
    )
    assert done.returncode == 4
    assert done.stdout == ""
    message = done.stderr.strip()
    assert message.startswith("error: campaign 'no-such-campaign' has no pairs in Redis unix://")
    assert f"{recorded} ({PAIRS} pairs, {PAIRS} scores)" in message
    assert "noise_rate" not in message
    assert len(done.stderr.splitlines()) == 1


def test_campaigns_lists_pair_and_score_counts(config: Path, recorded: str) -> None:
    done = run_cli("campaigns", "--config", str(config), "--format", "json")
    assert done.returncode == 0, done.stderr
    assert {"campaign": recorded, "pairs": PAIRS, "scores": PAIRS} in json.loads(done.stdout)
    table = run_cli("campaigns", "--config", str(config))
    assert re.search(rf"│ {re.escape(recorded)}\s+│\s+{PAIRS} │\s+{PAIRS} │", table.stdout)
