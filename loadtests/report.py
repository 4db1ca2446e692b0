"""Render docs/PERFORMANCE.md from one run's results (the JSON the orchestrator writes).

python -m loadtests.report --json loadtests/results/bench.json --out docs/PERFORMANCE.md
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from loadtests import report_text
from loadtests.targets import (
    Target,
    counts,
    evaluate,
    get,
    isolation_baseline,
    isolation_p99,
    isolation_rounds,
)

__all__ = ["render"]

SYSTEMS = (
    ("direct", "direct (the floor)"),
    ("darklaunch_off", "darklaunch, mirroring off"),
    ("darklaunch_mirror", "darklaunch, 100% mirror + recording"),
    ("nginx_mirror", "nginx `mirror`"),
    ("bare_relay", "bare relay (floor)"),
    ("bare_mirror", "bare relay + mirror (floor)"),
)


def _ms(value: Any, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def _change(value: float, base: float | None) -> str:
    """``+4%``, or ``×1,805`` once the change is more than a doubling."""
    if not base:
        return "–"
    ratio = value / base
    return f"×{ratio:,.0f}" if ratio >= 2 else f"{ratio - 1:+.0%}"


def _errors(closed: dict[str, Any]) -> str:
    kinds = ("connect", "read", "write", "status", "timeout")
    found = [f"{closed[f'errors_{k}']:,} {k}" for k in kinds if closed.get(f"errors_{k}")]
    return ", ".join(found) if found else "0"


def _phase(data: dict[str, Any], workers: str) -> list[str]:
    phase = get(data, "phases", workers)
    if not isinstance(phase, dict):
        return []
    pinned = workers == "1"
    s = data["settings"]
    out = [
        f"### {workers} worker process{'es' if not pinned else ''} each"
        + (" (proxy pinned to CPU 1, everything else to CPU 0)" if pinned else " (nothing pinned)"),
        "",
        f"Closed loop: wrk, {s['connections']} connections, {s['threads']} threads, "
        f"{s['closed_s']:g} s after a {s['warmup_s']:g} s warm-up. Open loop: "
        f"{s['open_rate']:,.0f} rps for {s['open_s']:g} s; *added* is the system's percentile "
        "minus direct's.",
        "",
    ]
    nginx_rps = get(phase, "nginx_mirror", "closed", "rps")
    direct_open = get(phase, "direct", "open") or {}
    rows = []
    for key, label in SYSTEMS:
        case = phase.get(key)
        if not isinstance(case, dict):
            continue
        closed, opened, cores = case["closed"], case["open"], case.get("proxy_cores")
        per_core = f"{closed['rps'] / cores:,.0f}" if cores else "–"
        vs_nginx = f"{closed['rps'] / nginx_rps:.0%}" if nginx_rps and key != "direct" else "–"
        added = "–"
        if key != "direct" and direct_open:
            added = (
                f"{opened['p50_ms'] - direct_open['p50_ms']:+.2f} / "
                f"{opened['p99_ms'] - direct_open['p99_ms']:+.2f}"
            )
        load, busy = case.get("load_cores"), case.get("machine_busy")
        rows.append([
            label, f"{closed['rps']:,.0f}", vs_nginx, _ms(closed["p50_ms"]), _ms(closed["p99_ms"]),
            _ms(cores) if cores is not None else "–", per_core,
            _ms(load) if load is not None else "–", f"{busy:.0%}" if busy is not None else "–",
            _errors(closed), _ms(opened["p50_ms"]), _ms(opened["p99_ms"]), added,
        ])  # fmt: skip
    out += _table(
        [
            "system", "rps", "rps vs nginx", "p50 ms", "p99 ms", "proxy CPU (cores)",
            "rps per proxy core", "wrk CPU (cores)", "machine busy", "errors",
            "1k rps p50 ms", "1k rps p99 ms", "added p50 / p99 ms",
        ],
        rows,
    )  # fmt: skip
    dl = phase.get("darklaunch_mirror")
    if isinstance(dl, dict) and isinstance(dl.get("counters"), dict):
        c = dl["counters"]
        out.append(
            f"darklaunch's own counters for the mirrored run (warm-up included): "
            f"{c['incumbent_requests']:,.0f} requests, {c['sampled']:,.0f} sampled, "
            f"mirrors skipped: {counts(c['skipped'])}; candidate errors: "
            f"{counts(c['candidate_errors'])}; {c['records_written']:,.0f} records written "
            f"(XLEN {dl.get('recorded') or 0:,}); records dropped: {counts(c['records_dropped'])}."
        )
        shed = sum(c["skipped"].values()) / c["sampled"] if c["sampled"] else 0.0
        if shed >= 0.01:
            out[-1] += (
                f" At saturation {shed:.0%} of mirrors were shed (`max_inflight`) rather than "
                "slow the clients down, so this row's rps is for that much less mirroring "
                "and recording."
            )
        out.append("")
    return out


def _isolation(data: dict[str, Any]) -> list[str]:
    iso = data.get("isolation")
    if not isinstance(iso, dict):
        return []
    base = isolation_baseline(data)
    rows = []
    for mode in ("fast", "slow", "hang", "error"):
        row = [mode]
        for system in ("darklaunch", "nginx_mirror"):
            case = get(iso, system, mode)
            if not isinstance(case, dict):
                row += ["–"] * (7 if system == "darklaunch" else 5)
                continue
            closed, opened = case["closed"], case["open"]
            lost = opened["timeouts"] + opened["errors"]
            row += [f"{closed['rps']:,.0f}", _ms(closed["p50_ms"]), _ms(closed["p99_ms"])]
            if system == "darklaunch":
                rounds = isolation_rounds(data, mode)
                p99 = isolation_p99(data, mode)
                row += [
                    ", ".join(f"{v:.2f}" for v in rounds),
                    _ms(p99) if p99 is not None else "–",
                    _change(p99, base) if p99 is not None else "–",
                ]
                if lost:
                    row[-3] += f" ({lost:,} timed out in round 1)"
            else:
                row.append(_ms(opened["p99_ms"]) + (f" ({lost:,} timed out)" if lost else ""))
                row.append(_change(opened["p99_ms"], get(iso, system, "fast", "open", "p99_ms")))
        rows.append(row)
    head = [
        "candidate", "darklaunch rps", "darklaunch p50 ms", "darklaunch p99 ms",
        "darklaunch 1k rps p99 ms, per round", "darklaunch 1k rps p99 ms, median",
        "darklaunch p99 change", "nginx rps", "nginx p50 ms", "nginx p99 ms",
        "nginx 1k rps p99 ms", "nginx p99 change",
    ]  # fmt: skip
    out = [
        "## Isolation: a slow, hanging or failing candidate",
        "",
        "One worker each, pinned as above. The faulty candidates are nginx servers (with "
        "Debian's `libnginx-mod-http-echo`) that answer after 200 ms (slow), never answer "
        "(hang) or answer HTTP 500 (error), so they cost the shared machine no CPU and the "
        "figures show the proxy's isolation rather than a candidate server's load on the load "
        "generator's core (without the module the simulator, `proxy.sim.server`, stands in). "
        "*fast* is the static nginx candidate. One darklaunch per candidate is started up "
        "front and the open-loop runs are repeated in interleaved rounds (fast, slow, hang, "
        "error, fast, ...), so drift over the run hits every candidate alike; a candidate's "
        "p99 is the median of its rounds, and its change is against the fast candidate's "
        "median. nginx runs each case once.",
        "",
        *_table(head, rows),
    ]
    for mode in ("fast", "slow", "hang", "error"):
        c = get(iso, "darklaunch", mode, "counters")
        if isinstance(c, dict):
            out.append(
                f"- darklaunch, {mode} candidate: {c['sampled']:,.0f} sampled; mirrors skipped: "
                f"{counts(c['skipped'])}; candidate errors: {counts(c['candidate_errors'])}; "
                f"{c['records_written']:,.0f} records written."
            )
    fast = isolation_rounds(data, "fast")
    if len(fast) > 1 and base:
        out += [
            "",
            f"The fast candidate's own rounds range from {min(fast):.2f} to {max(fast):.2f} ms "
            f"at p99 ({(max(fast) - min(fast)) / base:.0%} of their median): that is the noise "
            "any p99 change here must be read against. A slow or hanging candidate makes "
            "darklaunch *cheaper*, not dearer: once `max_inflight` mirrors are waiting, further "
            "mirrors are skipped (counted above) and their pairs are never built, and a "
            "failing one opens the breaker. nginx instead holds each client connection until "
            "the mirror answers.",
        ]
    return [*out, ""]


def _streaming(data: dict[str, Any]) -> list[str]:
    st = data.get("streaming")
    if not isinstance(st, dict) or "direct" not in st:
        return []
    s, direct = data["settings"], st["direct"]
    rows = []
    for key, label in SYSTEMS[:3]:
        r = st.get(key)
        if not isinstance(r, dict):
            continue
        added = "–"
        if key != "direct":
            added = (
                f"{r['ttft_p50_ms'] - direct['ttft_p50_ms']:+.2f} / "
                f"{r['ttft_p99_ms'] - direct['ttft_p99_ms']:+.2f}"
            )
        per_chunk = "–"
        if key != "direct":
            per_chunk = (
                f"{r['delivery_p50_ms'] - direct['delivery_p50_ms']:+.3f} / "
                f"{r['delivery_p99_ms'] - direct['delivery_p99_ms']:+.3f}"
            )
        rows.append([
            label, f"{r['streams']:,}", f"{r['events']:,}", _ms(r["ttft_p50_ms"]),
            _ms(r["ttft_p99_ms"]), added, _ms(r["delivery_p50_ms"], 3),
            _ms(r["delivery_p99_ms"], 3), per_chunk, _ms(r["gap_p50_ms"]), _ms(r["gap_p99_ms"]),
        ])  # fmt: skip
    return [
        "## Streaming: time to first token and per-chunk delay",
        "",
        f"{s['stream_concurrency']} concurrent SSE streams for {s['stream_s']:g} s, each "
        f"{s['stream_events']} content events {s['stream_interval_ms']:g} ms apart after "
        f"{s['stream_first_ms']:g} ms (`loadtests/streaming.py`). *Delivery* is the client's "
        "parse time minus the upstream's send time, stamped in each event on the same "
        "monotonic clock; its excess over direct is the per-chunk delay darklaunch adds. "
        "*Gap* is the time between consecutive events at the client. The client and the "
        "upstream share CPU 0, darklaunch has CPU 1; differences of a few tenths of a "
        "millisecond, including negative ones, are within the noise of a single run.",
        "",
        *_table(
            [
                "path",
                "streams",
                "events",
                "TTFT p50 ms",
                "TTFT p99 ms",
                "added TTFT p50 / p99 ms",
                "delivery p50 ms",
                "delivery p99 ms",
                "added per chunk p50 / p99 ms",
                "gap p50 ms",
                "gap p99 ms",
            ],
            rows,
        ),
    ]


def _memory(data: dict[str, Any]) -> list[str]:
    m = data.get("memory")
    if not isinstance(m, dict):
        return []
    c = m.get("counters") or {}
    return [
        "## Memory with a hanging candidate",
        "",
        f"One darklaunch process, every request mirrored to a candidate that never answers "
        f"(`first_byte_timeout_s: {data['settings']['memory_first_byte_timeout_s']:g}`, "
        f"default `max_inflight: 64`), recording on. RSS (`VmRSS` from `/proc/<pid>/status`) "
        "sampled every 0.25 s.",
        "",
        *_table(
            ["requests", "rps", "start MB", "peak MB", "end MB", "peak − start MB", "VmHWM MB"],
            [
                [
                    f"{m['requests']:,}",
                    f"{m['rps']:,.0f}",
                    f"{m['start_mb']:.1f}",
                    f"{m['peak_mb']:.1f}",
                    f"{m['end_mb']:.1f}",
                    f"{m['peak_mb'] - m['start_mb']:+.1f}",
                    f"{m['hwm_mb']:.1f}",
                ]
            ],
        ),
        f"Mirrors skipped: {counts(c.get('skipped'))}; candidate errors: "
        f"{counts(c.get('candidate_errors'))}; records written: "
        f"{c.get('records_written', 0):,.0f}.",
        "",
    ]


def _targets(targets: list[Target]) -> list[str]:
    rows = []
    for t in targets:
        verdict = "–" if t.passed is None else ("**PASS**" if t.passed else "**MISS**")
        rows.append([t.goal, t.measured, verdict])
    return ["## Targets", "", *_table(["target", "measured (same run)", "result"], rows)]


def render(data: dict[str, Any]) -> str:
    targets = evaluate(data)
    lines = report_text.header(data)
    lines += _targets(targets)
    lines += report_text.misses(data, targets)
    lines += ["## Throughput and latency", ""]
    lines += _phase(data, "1") + _phase(data, "2")
    lines += _isolation(data) + _streaming(data) + _memory(data)
    lines += report_text.profile(data)
    lines += report_text.comparators(data)
    lines += report_text.method(data)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    args.out.write_text(render(json.loads(args.json.read_text())))


if __name__ == "__main__":
    main()
