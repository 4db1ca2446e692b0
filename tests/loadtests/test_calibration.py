"""Every row of the calibration study as a fast test: one seed of each setting, judged by the
shipped gate, must give the verdict its target asks for. The study itself (100 seeds per
setting) is ``python -m loadtests.calibration``; these catch a change that breaks a row."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from comparators.gate.policy import load_policy
from comparators.gate.result import Verdict
from comparators.gate.verdict import NO_FLOOR_NOTE, evaluate
from loadtests.calibration import _engine, run_seed, settings
from loadtests.calibration_doc import write_doc
from loadtests.calibration_result import Goal, Setting, SettingResult
from loadtests.realistic import CandidateBehaviour, Scenario, generate
from proxy.shipped.files import shipped_path

SETTINGS = {setting.key: setting for setting in settings()}
POLICY = load_policy(shipped_path("gate.yaml"))


# The check each regression is about must be among the ones that FAIL it.
DECIDES = {
    "errors": "excess_divergence",
    "refusals": "refusal_rate_increase",
    "segment": "excess_divergence [kind=tool_call]",
    "tail": "p99_latency_ratio",
    "ttft": "p95_ttft_ratio",
    "latency": "median_latency_ratio",
    "transient": "excess_divergence",
}


@pytest.mark.parametrize("key", list(SETTINGS))
def test_each_setting_gives_its_verdict_on_one_seed(key: str) -> None:
    setting = SETTINGS[key]
    outcome = run_seed(setting, 1, POLICY)
    if setting.goal is Goal.FAIL_AT_LEAST:
        assert outcome.verdict is Verdict.FAIL, outcome
        assert DECIDES[key] in outcome.failed, outcome
    elif setting.goal is Goal.PASS_AT_LEAST:
        assert outcome.verdict is Verdict.PASS, outcome
    else:
        assert outcome.verdict is not Verdict.FAIL, outcome


def test_without_replicas_a_regression_is_not_failed_on_quality_and_a_note_says_why() -> None:
    scenario = Scenario(
        pairs=2000,
        replica_rate=0.0,
        candidate=CandidateBehaviour(style="mixed", substantive_error_rate=0.20),
    )
    scores = [s for record in generate(scenario, 1) for s in _engine().score(record)]
    result = evaluate(scores, POLICY)
    quality = next(c for c in result.checks if c.name == "excess_divergence" and not c.segment)
    assert quality.status is Verdict.INCONCLUSIVE
    assert "no noise floor" in quality.method
    assert NO_FLOOR_NOTE in result.notes


def test_the_doc_states_each_target_and_whether_it_was_met(tmp_path: Path) -> None:
    setting = dataclasses.replace(
        SETTINGS["aa"], scenario=dataclasses.replace(SETTINGS["aa"].scenario, pairs=300)
    )
    small = Setting(setting.key, setting.title, setting.scenario, setting.goal, setting.rate)
    result = SettingResult(small, [run_seed(small, 1, POLICY.model_copy(update={"min_pairs": 50}))])
    path = tmp_path / "calibration.md"
    write_doc(path, [result], POLICY, total_seconds=1.0, machine="test")
    text = path.read_text(encoding="utf-8")
    assert "| `aa`: A/A" in text
    assert "FAIL ≤ 2%" in text
    assert "quality: semantic" in text
