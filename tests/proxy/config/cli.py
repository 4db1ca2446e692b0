"""Run the ``darklaunch`` CLI in a subprocess, as a user would."""

from __future__ import annotations

import subprocess
import sys


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "proxy", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
