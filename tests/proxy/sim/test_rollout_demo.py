"""``darklaunch demo --rollout`` for real, with steps of a second and a half: the good candidate
is ramped to complete by its guards, the one that breaks at step 2 is rolled back on its error
rate, and no client sees a 5xx on the way."""

from __future__ import annotations

import asyncio
import re
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console
from typer.testing import CliRunner

import proxy.sim.rollout_demo
from proxy.cli import app as cli
from proxy.rollout.state import Action, Phase
from proxy.sim.rollout_demo import DEMO_STEPS, run_rollout_demo


async def test_the_rollout_demo_completes_a_good_candidate_and_rolls_back_a_failing_one(
    tmp_path: Path,
) -> None:
    console = Console(record=True, width=250)
    result = await run_rollout_demo(
        rate=30, step_s=1.5, step_pairs=30, data_dir=tmp_path, console=console
    )
    out = console.export_text()
    good, regressed = result.good, result.regressed

    assert good.phase is Phase.COMPLETE, out[-4000:]
    assert [t.action for t in good.history] == [Action.START] + [Action.ADVANCE] * len(DEMO_STEPS)
    assert all(t.cause == "guard" and "every guard PASSes" in t.reason for t in good.history[1:])
    assert good.served["candidate"] > 0
    assert not good.fallbacks

    assert regressed.phase is Phase.ROLLED_BACK, out[-4000:]
    actions = [t.action for t in regressed.history]
    assert actions == [Action.START, Action.ADVANCE, Action.ROLLBACK]
    rollback = regressed.history[-1]
    assert rollback.cause == "guard"
    assert rollback.from_step == 1  # step 2, where the candidate began to fail
    assert "error_rate" in rollback.reason
    fired = [c["name"] for c in rollback.evidence["checks"] if c["status"] == "FAIL"]
    assert fired == ["error_rate"]
    # The cohort's requests the candidate failed were served by the incumbent instead.
    assert regressed.served["fallback"] == regressed.fallbacks.total() > 0

    for run in (good, regressed):
        assert set(run.statuses) == {"200"}, run.statuses  # zero 5xx, nothing cut short
        assert run.client_5xx == 0
    assert result.exit_code == 0

    # The transitions were shown as they happened, then the summary with the audit trail.
    assert "advance → complete step 4/4" in out
    assert "rollback → rolled_back" in out
    assert re.search(r"guard fired at \+[\d.]+s: error_rate [\d.]+ > 0\.1", out)
    assert "fallbacks by reason: " in out
    assert "rollout demo: OK (exit 0)" in out
    leftovers = await asyncio.to_thread(
        subprocess.run, ["pgrep", "-f", str(tmp_path)], capture_output=True, text=True
    )
    assert leftovers.stdout == "", f"processes left behind: {leftovers.stdout}"


@pytest.mark.parametrize("code", [0, 1])
def test_demo_rollout_runs_the_rollout_demo_and_exits_with_its_code(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, code: int
) -> None:
    asked: dict[str, object] = {}

    async def fake(**kwargs: object) -> SimpleNamespace:
        asked.update(kwargs)
        return SimpleNamespace(exit_code=code)

    monkeypatch.setattr(proxy.sim.rollout_demo, "run_rollout_demo", fake)
    done = CliRunner().invoke(
        cli, ["demo", "--rollout", "--rate", "7", "--data-dir", str(tmp_path)]
    )
    assert done.exit_code == code, done.output
    assert asked == {"rate": 7.0, "data_dir": tmp_path}
