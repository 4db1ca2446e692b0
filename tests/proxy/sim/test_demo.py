"""``darklaunch demo`` end to end, at a short duration: real traffic, real recorded pairs, a
report and a verdict, and no process left behind."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def test_demo_produces_a_report_and_a_verdict_from_recorded_pairs(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "proxy",
            "demo",
            "--duration",
            "5",
            "--rate",
            "30",
            "--data-dir",
            str(data_dir),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    out = done.stdout
    verdict = re.search(r"verdict: (PASS|FAIL|INCONCLUSIVE) \(exit ([013])\)", out)
    assert verdict is not None, done.stderr[-3000:]
    assert done.returncode == int(verdict.group(2))  # the exit code it prints is the real one
    recorded = re.search(r"(\d+) requests answered; (\d+) pairs recorded", out)
    assert recorded is not None, out
    answered, pairs = int(recorded.group(1)), int(recorded.group(2))
    assert answered >= 100
    assert pairs == answered  # sample rate 1: every answered request became one pair
    assert re.search(rf"candidate \(small-model-v2\): {pairs} pairs", out)
    html = (data_dir / "report.html").read_text()
    assert "Release gate" in html
    assert html.count("<svg") >= 3
    leftovers = subprocess.run(["pgrep", "-f", str(data_dir)], capture_output=True, text=True)
    assert leftovers.stdout == "", f"processes left behind: {leftovers.stdout}"
