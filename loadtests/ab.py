"""darklaunch's mirrored throughput against an earlier commit's, in one run.

    python -m loadtests.ab --base REF [--rounds 5] [--quick] [--json PATH] [--out PATH]

Why: on a shared VM two back-to-back runs of the same proxy differ by more than the 5% a
change may cost (nginx measured 9,229 and 13,968 rps a minute apart), so comparing a change
with a figure from another day's ``make bench`` says little. This runs the two versions
side by side instead: ``make bench``'s mirrored case (one pinned worker, 100% mirroring,
recording to a real Redis, wrk's closed loop on the other core), alternating the order
every round, with nginx ``mirror`` in each round as the yardstick; then it reports each
version's median, their ratio (judged against :data:`MAX_SLOWDOWN`), and each against nginx.

The earlier version runs from a ``git worktree`` of REF, put first on the proxy's
``PYTHONPATH``; everything else (this checkout's venv, load generator, upstreams, Redis) is
shared, so only darklaunch's own code differs. Needs what ``make bench`` needs
(``make bench-deps``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from loadtests.loadgen import write_wrk_script
from loadtests.nginx import CHAT_REQUEST
from loadtests.processes import ChildFailed, Children, pin_threads
from loadtests.scenarios import FULL, QUICK, Bench, darklaunch_case, nginx_case
from loadtests.stack import Layout, Stack
from proxy.recording.embedded_redis import EmbeddedRedis

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
# A change may cost at most this share of the mirrored throughput (issue 17: "within 5%").
MAX_SLOWDOWN = 0.05


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def measure_rounds(bench: Bench, base_tree: Path, rounds: int) -> dict[str, list[float]]:
    """Closed-loop rps of darklaunch now, darklaunch at the base, and nginx, per round."""
    layout = Layout.for_workers(1, bench.cpus)
    stack = Stack(bench.kids, bench.folder, layout)
    incumbent, candidate = stack.upstreams(1)
    base_env = {**os.environ, "PYTHONPATH": str(base_tree)}
    sides: dict[str, dict[str, str] | None] = {"head": None, "base": base_env}
    rps: dict[str, list[float]] = {"head": [], "base": [], "nginx_mirror": [], "recorded": []}
    rps.update({"head_cpu_us": [], "base_cpu_us": []})
    try:
        for index in range(rounds):
            order = ["head", "base"] if index % 2 == 0 else ["base", "head"]
            for side in order:
                case = darklaunch_case(
                    bench, stack, incumbent, candidate.base_url, workers=1, sample_rate=1.0,
                    campaign=f"ab-{side}-{index}", env=sides[side],
                )  # fmt: skip
                rps[side].append(case.closed.rps)
                rps["recorded"].append(float(case.recorded or 0))
                # CPU per request: steadier than rps on a shared VM, where the proxy's core is
                # not always all its own (steal time lowers rps, not the work per request).
                if case.proxy_cores and case.closed.rps:
                    rps[f"{side}_cpu_us"].append(case.proxy_cores * 1e6 / case.closed.rps)
            ng = nginx_case(bench, stack, incumbent, candidate.base_url, 1)
            rps["nginx_mirror"].append(ng.closed.rps)
            line = ", ".join(f"{k} {v[-1]:,.0f}" for k, v in rps.items() if k in _SIDES and v)
            print(f"round {index + 1}/{rounds}: {line}", file=sys.stderr, flush=True)
    finally:
        bench.kids.stop(incumbent.child)  # one nginx serves both upstreams
    return rps


_SIDES = ("head", "base", "nginx_mirror", "head_cpu_us", "base_cpu_us")


def summary(rps: dict[str, list[float]], base: str, head: str) -> dict[str, Any]:
    """Medians of each side, and the verdict on the median of the per-round ratios: the two
    versions of a round ran back to back, so a disturbance of the machine that spans a round
    hits both, while the ratio of medians mixes rounds of different conditions."""
    med = {k: statistics.median(v) for k, v in rps.items() if k in _SIDES and v}
    paired = statistics.median(h / b for h, b in zip(rps["head"], rps["base"], strict=True))
    return {
        "base": base,
        "head": head,
        "rounds": rps,
        "median_rps": med,
        "head_over_base": paired,
        "ratio_of_medians": med["head"] / med["base"],
        "head_over_nginx": med["head"] / med["nginx_mirror"],
        "base_over_nginx": med["base"] / med["nginx_mirror"],
        "within_target": paired >= 1.0 - MAX_SLOWDOWN,
        "cpu_head_over_base": (
            med["head_cpu_us"] / med["base_cpu_us"] if "head_cpu_us" in med else None
        ),
    }


def markdown(result: dict[str, Any]) -> str:
    """The medians, the ratio and its verdict, then every round's figures."""
    med = result["median_rps"]
    rounds = result["rounds"]
    verdict = "PASS" if result["within_target"] else "MISS"
    rows = [
        "| version | median rps (closed loop, 1 pinned worker, 100% mirrored) | vs nginx mirror |",
        "| --- | ---: | ---: |",
        f"| base `{result['base']}` | {med['base']:,.0f} | {result['base_over_nginx']:.0%} |",
        f"| head `{result['head']}` | {med['head']:,.0f} | {result['head_over_nginx']:.0%} |",
        f"| nginx `mirror` | {med['nginx_mirror']:,.0f} | 100% |",
    ]
    per_round = [
        "| round | base rps | head rps | nginx mirror rps |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for index, (b, h, n) in enumerate(
        zip(rounds["base"], rounds["head"], rounds["nginx_mirror"], strict=True), 1
    ):
        per_round.append(f"| {index} | {b:,.0f} | {h:,.0f} | {n:,.0f} |")
    count = len(rounds["head"])
    ratio = result["head_over_base"]
    return "\n".join(
        [
            *rows,
            "",
            f"head / base: **{ratio:.3f}**, the median of {count} interleaved rounds' ratios "
            f"(the target, at least {1.0 - MAX_SLOWDOWN:.2f}: **{verdict}**); the ratio of the "
            f"medians: {result['ratio_of_medians']:.3f}",
            *(
                [
                    f"CPU per request: head {med['head_cpu_us']:.0f} µs, base "
                    f"{med['base_cpu_us']:.0f} µs, head / base "
                    f"{result['cpu_head_over_base']:.3f} (medians)"
                ]
                if result.get("cpu_head_over_base")
                else []
            ),
            "",
            *per_round,
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", required=True, help="the commit to compare with (any git ref)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--quick", action="store_true", help="shortened durations (smoke check)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--out", type=Path, help="also write the markdown summary here")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds {args.rounds}: expected 1 or more")
    folder = Path(tempfile.mkdtemp(prefix="dl-ab-"))
    folder.chmod(0o755)
    (folder / "logs").mkdir()
    tree = folder / "base"
    redis = EmbeddedRedis(folder / "redis", extra_args=("--auto-aof-rewrite-percentage", "0"))
    try:
        base = _git("rev-parse", "--short", args.base)
        head = _git("rev-parse", "--short", "HEAD")
        _git("worktree", "add", "--detach", str(tree), args.base)
        with Children(folder / "logs") as kids:
            url = redis.start()
            assert redis.process is not None
            pin_threads(redis.process.pid, frozenset({0}))
            bench = Bench(
                QUICK if args.quick else FULL, kids, folder,
                write_wrk_script(folder / "post.lua", CHAT_REQUEST), folder / "body.json", url,
                len(os.sched_getaffinity(0)),
            )  # fmt: skip
            bench.body_file.write_bytes(CHAT_REQUEST)
            started = time.monotonic()
            result = summary(measure_rounds(bench, tree, args.rounds), base, head)
            result["elapsed_s"] = time.monotonic() - started
    except (ChildFailed, RuntimeError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        redis.stop()
        if tree.exists():
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                capture_output=True, timeout=60, check=False,
            )  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)
    text = markdown(result)
    print(text)
    if args.out is not None:
        command = f"python -m loadtests.ab --base {args.base} --rounds {args.rounds}"
        args.out.write_text(
            f"# darklaunch {head} against {base}\n\nGenerated by `{command}` on "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} in "
            f"{result['elapsed_s'] / 60:.1f} minutes. Each round runs `make bench`'s mirrored "
            "case (one worker pinned to its own core, 100% mirroring, recording to a real "
            "Redis, wrk's closed loop) on both versions, in alternating order, then nginx "
            "`mirror`; only darklaunch's own code differs between the two (`loadtests/ab.py`)."
            f"\n\n{text}\n"
        )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
