"""The benchmark harness of issue 8: darklaunch against direct access and nginx ``mirror``.

    python -m loadtests.bench [--quick] [--profile] [--out docs/PERFORMANCE.md]
                              [--json loadtests/results/bench.json]

In one run on this machine it measures direct access, darklaunch with mirroring off,
darklaunch with 100% mirroring and recording to a real Redis, and nginx with ``mirror``, at
one and at two worker processes each; then isolation from a slow, hanging or failing
candidate; streaming; memory with a hanging candidate; and comparator throughput. It writes
the figures as JSON and renders them, with the targets judged, into ``--out``.

Needs Debian's ``nginx`` and ``wrk`` (``make bench-deps``). Every child process is stopped
when the run ends, fails or is interrupted; only 127.0.0.1 is used. ``--quick`` shortens
every duration (a smoke check in a few minutes); the full run takes about ten minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any

from loadtests import bench_comparators
from loadtests.loadgen import hey_version, write_wrk_script, wrk_version
from loadtests.nginx import CHAT_REQUEST, nginx_binary, nginx_version
from loadtests.processes import ChildFailed, Children, pin_threads
from loadtests.profiling import run_profile
from loadtests.report import render
from loadtests.scenarios import (
    FULL,
    QUICK,
    Bench,
    run_isolation,
    run_memory,
    run_phase,
    run_streaming,
)
from loadtests.targets import evaluate
from proxy.recording.embedded_redis import EmbeddedRedis, redis_server_binary

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
CASES = ("phases", "isolation", "streaming", "memory", "comparators")


def _log(message: str, started: float) -> None:
    print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    models = [
        ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("model name")
    ]
    mhz = [ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("cpu MHz")]
    meminfo = Path("/proc/meminfo").read_text().split()
    nproc = subprocess.run(["nproc"], capture_output=True, text=True, timeout=5, check=False)
    return {
        "cpu_model": models[0] if models else platform.processor(),
        "cpus": len(models) or os.cpu_count() or 1,
        "nproc": int(nproc.stdout.strip() or 0),
        "mhz": mhz[0] if mhz else "unknown",
        "memory_gb": int(meminfo[meminfo.index("MemTotal:") + 1]) / 1024 / 1024,
        "kernel": platform.release(),
        "hypervisor": _lscpu().get("Hypervisor vendor", "none"),
        "threads_per_core": _lscpu().get("Thread(s) per core", "unknown"),
    }


def _lscpu() -> dict[str, str]:
    done = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10, check=False)
    pairs = (line.split(":", 1) for line in done.stdout.splitlines() if ":" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def code_version() -> dict[str, str]:
    """The commit under test, the git tree of the code it runs (``proxy`` and ``comparators``,
    so a commit elsewhere does not count as a change) and a digest of uncommitted changes."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], capture_output=True, text=True, timeout=10, check=False, cwd=ROOT
        )
        return done.stdout.strip()

    diff = git("diff", "HEAD", "--", "proxy", "comparators")
    digest = hashlib.sha256(diff.encode()).hexdigest()[:12] if diff else ""
    trees = git("rev-parse", "HEAD:proxy", "HEAD:comparators").split()
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "tree": hashlib.sha256(" ".join(trees).encode()).hexdigest()[:12],
        "uncommitted": digest,
    }


def tools() -> dict[str, str]:
    redis = subprocess.run(
        [redis_server_binary(), "--version"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    words = redis.stdout.split()
    version = next((w.split("=", 1)[1] for w in words if w.startswith("v=")), "unknown")

    def dist(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "unknown"

    return {
        "python": platform.python_version(),
        "aiohttp": dist("aiohttp"),
        "uvloop": dist("uvloop"),
        "prometheus_client": dist("prometheus-client"),
        "darklaunch": dist("darklaunch"),
        "nginx": nginx_version(),
        "wrk": wrk_version(),
        "hey": hey_version(),
        "redis": version,
    }


def _comparators(pairs: int, backlogs: tuple[int, ...]) -> dict[str, Any]:
    batch = bench_comparators.make_pairs(pairs)
    return {
        "pairs": pairs,
        "output_bytes": 1024,
        "core_set_pairs_per_s": round(
            bench_comparators.score_rate(batch, bench_comparators.CORE_SET)
        ),
        "lexical_set_pairs_per_s": round(
            bench_comparators.score_rate(batch, bench_comparators.LEXICAL_SET)
        ),
        "all_builtins_pairs_per_s": round(bench_comparators.score_rate(batch, None)),
        "worker_end_to_end_pairs_per_s": round(asyncio.run(bench_comparators.worker_rate(batch))),
        "semantic_pairs_per_s": round(bench_comparators.semantic_rate(pairs)),
        "judge": asyncio.run(bench_comparators.judge_rate(batch[: min(pairs, 200)])),
        # issue 23: the worker on the lexical set with each backlog queued, and semantic on
        "worker": bench_comparators.worker_figures(backlogs),
    }


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run(args: argparse.Namespace, data: dict[str, Any], started: float) -> None:
    settings = QUICK if args.quick else FULL
    cpus = len(os.sched_getaffinity(0))
    folder = Path(tempfile.mkdtemp(prefix="dl-bench-"))
    folder.chmod(0o755)
    logs = folder / "logs"
    logs.mkdir()
    failed = True
    # No automatic AOF rewrite: its fork would land mid-measurement on the load core.
    redis = EmbeddedRedis(folder / "redis", extra_args=("--auto-aof-rewrite-percentage", "0"))
    try:
        with Children(logs) as kids:
            url = redis.start()
            assert redis.process is not None
            bench = Bench(
                settings, kids, folder, write_wrk_script(folder / "post.lua", CHAT_REQUEST),
                folder / "body.json", url, cpus,
            )  # fmt: skip
            bench.body_file.write_bytes(CHAT_REQUEST)
            everything = frozenset(range(cpus))
            if "phases" in args.cases:
                data["phases"] = {}
                for workers in (1, 2):
                    pin_threads(redis.process.pid, frozenset({0}) if workers == 1 else everything)
                    _log(f"throughput and latency, {workers} worker(s) each", started)
                    phase = run_phase(bench, workers)
                    data["phases"][str(workers)] = {k: asdict(v) for k, v in phase.items()}
                    for name, case in phase.items():
                        line = (
                            f"  {name}: {case.closed.rps:,.0f} rps, 1k-rps p50 "
                            f"{case.open.p50_ms:.2f} p99 {case.open.p99_ms:.2f} ms"
                        )
                        _log(line, started)
            pin_threads(redis.process.pid, frozenset({0}) if cpus >= 2 else None)
            if "isolation" in args.cases:
                _log("isolation: fast, slow, hanging, failing candidate", started)
                iso = run_isolation(bench)
                data["isolation"] = {
                    s: {m: asdict(c) for m, c in r.items()} for s, r in iso.items()
                }
            if "streaming" in args.cases:
                _log("streaming", started)
                data["streaming"] = {k: asdict(v) for k, v in run_streaming(bench).items()}
            if "memory" in args.cases:
                _log(f"memory over {settings.memory_requests:,} requests", started)
                data["memory"] = asdict(run_memory(bench))
            if args.profile:
                _log("profiling darklaunch with py-spy", started)
                raw = args.json.parent / "profile-darklaunch.txt"
                data["profile"] = run_profile(bench, 5.0 if args.quick else 15.0, raw)
        failed = False
    except KeyboardInterrupt:
        failed = False  # nothing to debug: drop the folder with the rest
        raise
    finally:
        redis.stop()
        if failed:
            print(f"benchmark failed; logs kept in {logs}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    if "comparators" in args.cases:  # last: it starts threads, and no child follows it
        _log(f"comparators, {settings.comparator_pairs:,} pairs", started)
        # --quick: a tenth of the backlogs, 1,000 and 10,000 pairs queued
        backlogs = tuple(n // 10 for n in bench_comparators.BACKLOGS) if args.quick else None
        data["comparators"] = _comparators(
            settings.comparator_pairs, backlogs or bench_comparators.BACKLOGS
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="shortened durations (smoke check)")
    parser.add_argument("--profile", action="store_true", help="also profile darklaunch (py-spy)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "PERFORMANCE.md")
    parser.add_argument("--json", type=Path, default=ROOT / "loadtests" / "results" / "bench.json")
    parser.add_argument(
        "--cases", default=",".join(CASES), help=f"comma-separated subset of: {', '.join(CASES)}"
    )
    args = parser.parse_args(argv)
    args.cases = {c.strip() for c in args.cases.split(",") if c.strip()}
    if unknown := args.cases - set(CASES):
        parser.error(f"unknown cases: {', '.join(sorted(unknown))}")
    try:
        nginx_binary()
        for tool in ("wrk", "hey"):
            if shutil.which(tool) is None:
                raise RuntimeError(f"{tool} not found: apt-get install -y {tool} (make bench-deps)")
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started ignoring it
    started = time.monotonic()
    command = "python -m loadtests.bench" + (" --quick" if args.quick else "")
    data: dict[str, Any] = {
        "command": command,
        "quick": args.quick,
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "tools": tools(),
        "settings": asdict(QUICK if args.quick else FULL),
        "code": code_version(),
    }
    try:
        run(args, data, started)
    except (ChildFailed, RuntimeError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; every child process was stopped", file=sys.stderr)
        return 130
    data["elapsed_s"] = time.monotonic() - started
    data["code_after"] = code_version()
    data["json_path"] = _relative(args.json)
    data["targets"] = [asdict(t) for t in evaluate(data)]
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(data, indent=2) + "\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(data))
    for t in data["targets"]:
        verdict = "-" if t["passed"] is None else ("PASS" if t["passed"] else "MISS")
        print(f"{verdict:4}  {t['goal']}: {t['measured']}", file=sys.stderr)
    _log(f"wrote {args.out} and {args.json}", started)
    return 0


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
