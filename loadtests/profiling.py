"""Profile a darklaunch worker with py-spy under the 100%-mirror closed-loop load.

py-spy is optional (``pip install py-spy``); without it ``--profile`` is skipped. Samples are
taken in py-spy's raw (collapsed stack) format and summarised per function: *inclusive* is
the share of samples with the function anywhere on the stack, *self* the share with it on
top (time in C extensions counts as self time of the Python frame that called them).
"""

from __future__ import annotations

import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from loadtests.loadgen import run_wrk
from loadtests.scenarios import Bench
from loadtests.stack import Layout, Stack

__all__ = ["py_spy_binary", "run_profile", "summarise"]

RATE = 200


def py_spy_binary() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def _frame(text: str) -> tuple[str, str]:
    name, _, where = text.rpartition(" (")
    return (name or text), where.rstrip(")")


def summarise(raw: str, rate: int, duration_s: float, top: int = 15) -> dict[str, Any]:
    inclusive: Counter[tuple[str, str]] = Counter()
    own: Counter[tuple[str, str]] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";") if not f.startswith("process ")]
        frames = [f for f in frames if not f[0].startswith("thread ")]
        if not frames:
            continue
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    if not total:
        return {"samples": 0, "functions": [], "self_top": []}

    def row(frame: tuple[str, str]) -> dict[str, Any]:
        return {
            "function": frame[0],
            "where": frame[1],
            "inclusive": inclusive[frame] / total,
            "self": own[frame] / total,
        }

    ours = [f for f, _ in inclusive.most_common() if f[1].startswith("proxy/")]
    return {
        "rate": rate,
        "duration_s": duration_s,
        "samples": total,
        "idle": max(0.0, 1.0 - total / (rate * duration_s)),
        "functions": [row(f) for f in ours[:top]],
        "self_top": [row(f) for f, _ in own.most_common(top)],
    }


def run_profile(b: Bench, duration_s: float, raw_out: Path) -> dict[str, Any] | None:
    spy = py_spy_binary()
    if spy is None:
        return None
    layout = Layout.for_workers(1, b.cpus)
    stack = Stack(b.kids, b.folder, layout)
    incumbent, candidate = stack.upstreams(1)
    raw = b.folder / "profile.txt"
    try:
        dl = stack.darklaunch(incumbent.base_url, candidate.base_url, workers=1, sample_rate=1.0,
                              redis_url=b.redis_url, campaign="profile")  # fmt: skip
        try:
            run_wrk(dl.url, b.script, duration_s=2.0, cpus=layout.load_cpus)  # warm-up
            argv = [
                "sh", "-c",
                f"sleep 1; exec {spy} record --pid {dl.pids[0]} --rate {RATE} --nolineno "
                f"--format raw --duration {duration_s:g} --output {raw}",
            ]  # fmt: skip
            spy_child = b.kids.start("py-spy", argv, cpus=layout.load_cpus)
            load = run_wrk(dl.url, b.script, duration_s=duration_s + 2.0, cpus=layout.load_cpus)
            spy_child.process.wait(30)
            b.kids.stop(spy_child)
        finally:
            b.kids.stop(dl.child)
    finally:
        b.kids.stop(incumbent.child)
    if not raw.exists():
        return None
    text = raw.read_text()
    raw_out.write_text(text)
    summary = summarise(text, RATE, duration_s)
    summary["rps_while_profiled"] = load.rps
    summary["raw_file"] = raw_out.name
    return summary
