"""The judge calibration's settings, one seed each: the simulated judge through the real
combination of orders, join and gate (``loadtests/judge_calibration.py``; the 100-seed
figures are in docs/calibration.md)."""

from __future__ import annotations

import pytest

from comparators.gate.result import Verdict
from loadtests.judge_calibration import SETTINGS, run_setting, shipped_judge_policy

BY_NAME = {s.name: s for s in SETTINGS}


@pytest.mark.parametrize(
    ("name", "verdict"),
    [("aa", Verdict.PASS), ("equal", Verdict.PASS), ("worse_10pts", Verdict.FAIL)],
)
def test_one_seed_gives_the_settings_verdict(name: str, verdict: Verdict) -> None:
    assert run_setting(BY_NAME[name], 0, 2000, shipped_judge_policy()) is verdict
