"""``darklaunch demo`` end to end, at a short duration: real traffic, real recorded pairs, a
report and a verdict, and no process left behind."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

from rich.console import Console

from proxy.sim.demo import (
    CANDIDATE_PROFILES,
    INCUMBENT_PROFILE,
    demo_config,
    demo_policy,
    run_demo,
)
from proxy.sim.prompts import traffic


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
    # The quality verdict is said to come from the semantic check, against a noise floor.
    assert re.search(r"quality: semantic .*: (PASS|FAIL|INCONCLUSIVE)", out), out[-3000:]
    assert re.search(r"changed in meaning or facts: .* of the replica's \(n=[1-9]", out)
    # The simulated LLM judge ran beside the comparators, and its verdicts and cost are said.
    judge = re.search(
        r"LLM judge .*: (\d+) candidate pairs judged: candidate better (\d+), worse (\d+), "
        r"tie (\d+); (\d+) calls, \$([0-9.]+)",
        out,
    )
    assert judge is not None, out[-3000:]
    judged, better, worse, tie, calls, cost = judge.groups()
    assert int(judged) > 0
    assert int(better) + int(worse) + int(tie) == int(judged)
    assert int(calls) >= 2 * int(judged)
    assert float(cost) > 0
    assert "judge: better / worse" in out
    html = (data_dir / "report.html").read_text()
    assert "Release gate" in html
    assert html.count("<svg") >= 3
    leftovers = subprocess.run(["pgrep", "-f", str(data_dir)], capture_output=True, text=True)
    assert leftovers.stdout == "", f"processes left behind: {leftovers.stdout}"


def test_the_candidates_differ_from_the_incumbent_in_wording_facts_or_speed() -> None:
    assert list(CANDIDATE_PROFILES) == ["good", "paraphrasing", "regressed"]
    good, paraphrasing, regressed = CANDIDATE_PROFILES.values()
    assert INCUMBENT_PROFILE.style == "same"
    assert good.style == "mixed"
    assert paraphrasing.style != "mixed"
    assert "same" not in paraphrasing.style
    assert good.content_error_rate == paraphrasing.content_error_rate == 0.0
    assert 0.10 <= regressed.content_error_rate <= 0.15
    assert regressed.refusal_rate > good.refusal_rate
    assert regressed.latency_ms > INCUMBENT_PROFILE.latency_ms > good.latency_ms


def test_the_demo_judges_with_the_shipped_policy_against_a_noise_floor(tmp_path: Path) -> None:
    policy = demo_policy()
    assert policy.quality.value == "semantic"
    assert policy.min_pairs == 300
    config = demo_config("http://127.0.0.1:1", "http://127.0.0.1:2", "redis://x", tmp_path, 1.0)
    assert config.mirror.noise_rate > 0


def test_the_demo_traffic_asks_every_kind_of_bank_question() -> None:
    sent = list(itertools.islice(traffic(), 1000))
    kinds = Counter(r.item.kind for r in sent)
    assert set(kinds) == {"prose", "short_fact", "json", "tool_call", "refusable"}
    assert 0.02 < kinds["refusable"] / len(sent) < 0.1
    assert 0.25 < sum(r.stream for r in sent) / len(sent) < 0.55
    assert [r.item.key for r in itertools.islice(traffic(), 50)] == [r.item.key for r in sent[:50]]
    tool = next(r for r in sent if r.item.kind == "tool_call").arguments()
    assert tool["tools"]
    assert tool["messages"][-1]["role"] == "user"
    document = next(r for r in sent if r.item.kind == "json").arguments()
    assert document["response_format"] == {"type": "json_object"}


async def test_the_demo_with_an_anthropic_candidate_translates_and_counts_refusals(
    tmp_path: Path,
) -> None:
    console = Console(record=True, width=250)
    result = await run_demo(
        duration_s=3, rate=30, candidate_api="anthropic", data_dir=tmp_path, console=console
    )
    out = console.export_text()
    skipped = re.search(r"candidate API: anthropic .*skipped: (\d+) response_format", out)
    assert skipped is not None, out[-3000:]
    json_requests = sum(n for label, n in result.sent.items() if label.startswith("json"))
    # JSON mode has no faithful Anthropic equivalent: exactly those mirrors were skipped.
    assert int(skipped.group(1)) == json_requests > 0
    # Every other request was recorded; a skipped one only when its replica was drawn.
    answered = sum(result.sent.values())
    assert answered - json_requests <= result.recorded < answered
    [candidate] = result.report.candidates
    assert candidate.overall.pairs > 0
    assert result.report.unscored_records == 0
