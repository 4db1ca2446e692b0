"""The campaign report: numbers from hand-built scores, the noise floor and the renderers."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from comparators.gate import stats
from comparators.gate.policy import GatePolicy
from comparators.gate.verdict import evaluate
from comparators.report.build import SECONDS_PER_MONTH, build_report, render_json
from comparators.report.html import render_html, word_diff
from comparators.report.model import CampaignReport
from comparators.report.table import render_table
from comparators.report.worst import build_worst_pairs, worst_pair_ids
from comparators.scores import ScoreRecord
from proxy.recording.schema import Choice, Output, PairRecord, RequestInfo, Role, Side
from tests.comparators.score_factories import replica, score

CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"


def campaign(n: int = 10, divergent: int = 3, noise_divergent: int = 1) -> list[ScoreRecord]:
    records = []
    for i in range(n):
        ts = 1_700_000_000.0 + i
        records.append(score(f"p{i}", timestamp=ts, similarity=0.5 if i < divergent else 0.95))
        records.append(
            replica(f"p{i}", timestamp=ts, similarity=0.5 if i < noise_divergent else 1.0)
        )
    return records


def test_divergence_noise_floor_and_excess() -> None:
    report = build_report(campaign(), divergence_threshold=0.2)
    row = report.candidates[0].overall
    assert (row.scope, row.pairs, row.noise_pairs) == ("all", 10, 10)
    assert row.divergence_rate.value == pytest.approx(0.3)
    assert (row.divergence_rate.lower, row.divergence_rate.upper) == pytest.approx(
        stats.wilson_interval(3, 10)
    )
    assert row.noise_divergence_rate.value == pytest.approx(0.1)
    assert row.excess_divergence == stats.newcombe_difference(3, 10, 1, 10, 0.95)
    assert row.mean_similarity.value == pytest.approx((3 * 0.5 + 7 * 0.95) / 10)
    assert row.exact_match_rate.value == 0.0


def test_threshold_is_a_parameter() -> None:
    report = build_report(campaign(), divergence_threshold=0.6)
    assert report.candidates[0].overall.divergence_rate.value == 0.0


def test_rows_split_by_route_and_model_with_their_own_noise_floor() -> None:
    records = [
        score("a", route=CHAT, model="m1", similarity=0.5),
        score("b", route=RESPONSES, model="m2"),
        replica("a", route=CHAT, model="m1", similarity=0.5),
        replica("b", route=RESPONSES, model="m2"),
    ]
    rows = {(r.scope, r.key): r for r in build_report(records).candidates[0].rows}
    assert set(rows) == {
        ("all", "all"),
        ("route", CHAT),
        ("route", RESPONSES),
        ("model", "m1"),
        ("model", "m2"),
    }
    assert rows[("route", CHAT)].noise_divergence_rate.value == 1.0
    assert rows[("route", RESPONSES)].noise_divergence_rate.value == 0.0
    assert rows[("model", "m2")].pairs == 1


def test_errors_are_rates_and_leave_latency_and_cost() -> None:
    records = [score(f"p{i}", mirror_ms=100.0 * (i + 1)) for i in range(8)]
    records += [score("e1", mirror_error=True, mirror_ms=5.0), score("e2", incumbent_error=True)]
    row = build_report(records).candidates[0].overall
    assert row.errors.candidate.value == pytest.approx(0.1)
    assert row.errors.incumbent.value == pytest.approx(0.1)
    assert row.errors.delta.value == pytest.approx(0.0)
    assert row.latency.candidate.n == 8  # failed pairs are not latency samples
    assert row.latency.candidate.p50 == pytest.approx(
        np.quantile([100.0 * (i + 1) for i in range(8)], 0.5)
    )
    assert row.refusals.candidate.n == 9  # a failed side has no refusal verdict


def test_latency_deltas_rank_test_and_shift() -> None:
    rng = np.random.default_rng(1)
    inc = rng.lognormal(6.5, 0.3, 400)
    records = [
        score(
            f"p{i}",
            incumbent_ms=float(inc[i]),
            mirror_ms=float(inc[i] * 1.5),
            mirror_ttft_ms=300.0,
            stream=i % 2 == 0,
        )
        for i in range(400)
    ]
    latency = build_report(records).candidates[0].overall.latency
    assert latency.p95_delta_ms.value == pytest.approx(np.quantile(inc, 0.95) * 0.5)
    assert (latency.p95_delta_ms.lower or 0.0) > 0
    assert (latency.mann_whitney_p or 1.0) < 1e-6
    assert (latency.hodges_lehmann_ms.value or 0.0) > 0
    ttft = build_report(records).candidates[0].overall.ttft
    assert ttft.p50_delta_ms.value == pytest.approx(100.0)
    assert ttft.candidate.n == 200  # streamed pairs only: a plain answer's first byte is its last


def test_monthly_cost_projection_bases() -> None:
    records = [
        score(f"p{i}", timestamp=1_700_000_000.0 + 10 * i, mirror_usd=0.003) for i in range(11)
    ]
    given = build_report(records, traffic_rps=10.0).candidates[0].overall.cost
    assert given.mean_delta_usd.value == pytest.approx(0.002)
    assert given.monthly_delta_usd.value == pytest.approx(0.002 * 10.0 * SECONDS_PER_MONTH)
    sampled = build_report(records, sample_rate=0.1)
    assert sampled.candidates[0].overall.cost.projection_rps == pytest.approx(11 / 100 / 0.1)
    observed = build_report(records)
    assert observed.candidates[0].overall.cost.projection_rps == pytest.approx(11 / 100)
    # Records without a recorded rate: the config's stands in, and the notes say so.
    assert any("counts each of them as one request" in note for note in observed.notes)
    assert any("11 of 11 pairs" in n and "sample_rate 0.1" in n for n in sampled.notes)


def test_breach_rates_by_kind_and_duplicates_counted_once() -> None:
    records = [
        score("a", breaches=["latency_ms", "cost_usd"]),
        score("b", breaches=["latency_ms"]),
        score("c"),
        score("d"),
        score("d"),  # the same (pair, mirror) scored twice
    ]
    row = build_report(records).candidates[0].overall
    assert row.pairs == 4
    assert row.breach_rates["latency_ms"].value == pytest.approx(0.5)
    assert row.breach_rates["cost_usd"].value == pytest.approx(0.25)


def test_without_replicas_the_floor_is_zero_and_a_note_says_so() -> None:
    report = build_report([score("a", similarity=0.5), score("b")])
    row = report.candidates[0].overall
    assert row.noise_pairs == 0
    assert row.excess_divergence.value == pytest.approx(0.5)
    assert any("noise floor is unmeasured" in note for note in report.notes)


def test_bad_parameters_are_named() -> None:
    with pytest.raises(ValueError, match="sample_rate: got 0; expected"):
        build_report([score()], sample_rate=0)


def test_json_round_trips() -> None:
    report = build_report(campaign())
    text = render_json(report)
    assert json.loads(text)["candidates"][0]["name"] == "cand-a"
    assert CampaignReport.model_validate_json(text) == report


def test_table_shows_the_numbers() -> None:
    console = Console(record=True, width=200)
    console.print(render_table(build_report(campaign())))
    text = console.export_text()
    assert "cand-a" in text
    assert "divergence > 0.2" in text
    assert "30.0% [" in text
    assert "excess" in text


def _pair(pair_id: str, prompt: str, incumbent: str, candidate: str) -> PairRecord:
    def side(role: Role, name: str, text: str) -> Side:
        output = Output(choices=[Choice(text=text, finish_reason="stop")])
        return Side(role=role, name=name, status=200, latency_ms=100.0, output=output)

    return PairRecord(
        pair_id=pair_id,
        campaign="test",
        timestamp=1_700_000_000.0,
        route=CHAT,
        method="POST",
        request=RequestInfo(body={"messages": [{"role": "user", "content": prompt}]}),
        incumbent=side(Role.INCUMBENT, "incumbent", incumbent),
        mirrors=[side(Role.CANDIDATE, "cand-a", candidate)],
    )


def test_html_is_self_contained_escaped_and_complete() -> None:
    rng = np.random.default_rng(2)
    records = campaign(60, divergent=12, noise_divergent=4)
    records = [
        r.model_copy(
            update={"values": {**r.values, "latency.mirror_ms": float(rng.lognormal(7, 0.3))}}
        )
        for r in records
    ]
    hostile = 'See https://evil.example/x?a=1&b=2 <script>alert("x")</script>'
    pairs = {
        r.pair_id: _pair(r.pair_id, hostile, "The answer is forty two.", "The answer is 42 </pre>.")
        for r in records
    }
    ids = worst_pair_ids(records, n=3)
    worst = build_worst_pairs(records, {i: pairs[i] for i in ids}, n=3)
    gate = evaluate(records, GatePolicy(min_pairs=10))
    page = render_html(build_report(records), worst, gate)

    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg") == 3  # latency and TTFT in one figure, divergence, cost
    for section in (
        "Release gate",
        "Highest divergence",
        "Largest latency regression",
        "Highest candidate cost",
        "By segment",
    ):
        assert section in page
    assert "<script" not in page
    assert "&lt;script&gt;" in page
    assert "&lt;/pre&gt;" in page
    assert "<ins>" in page
    assert "<del>" in page
    outside_user_text = re.sub(r"<pre>.*?</pre>", "", page, flags=re.DOTALL)
    assert "http://" not in outside_user_text
    assert "https://" not in outside_user_text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_html_renders_in_headless_chromium_without_console_messages(tmp_path: Path) -> None:
    if CHROMIUM is None:
        if os.environ.get("CI"):  # CI installs it (make system-deps): missing there is a failure
            pytest.fail("chromium is not installed; CI must install Debian's chromium")
        pytest.skip("needs Debian's chromium (apt-get install chromium); CI runs this test")
    records = campaign(40, divergent=8, noise_divergent=3)
    pairs = {r.pair_id: _pair(r.pair_id, "q <b>", "a b c", "a x c") for r in records}
    worst = build_worst_pairs(records, pairs, n=2)
    page = tmp_path / "report.html"
    page.write_text(render_html(build_report(records), worst, evaluate(records, GatePolicy())))
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
        # Our network reaches no Google host: keep Chromium from trying, so its log is ours.
        "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
    ]  # fmt: skip
    result = subprocess.run(
        [CHROMIUM, *flags, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "CONSOLE" not in result.stderr
    assert result.stdout.count("<svg") == 3
    assert "Release gate" in result.stdout


def test_html_without_worst_or_gate_and_for_an_empty_campaign() -> None:
    page = render_html(build_report([]))
    assert "No candidate scores" in page
    assert "Release gate" not in page


def test_worst_pairs_rank_and_report_missing_records() -> None:
    records = [
        score("a", similarity=0.4),
        score("b", similarity=0.9),
        score("c", mirror_error=True),
    ]
    worst = build_worst_pairs(records, {}, n=2)
    divergence = worst.categories["divergence"]
    assert [p.pair_id for p in divergence] == ["a", "b"]  # the failed pair is an error, not text
    assert not divergence[0].found
    assert "no longer stored" in render_html(build_report(records), worst)


def test_word_diff_marks_changed_words_and_escapes() -> None:
    left, right = word_diff("keep <old> words", "keep <new> words")
    assert left == "keep <del>&lt;old&gt;</del> words"
    assert right == "keep <ins>&lt;new&gt;</ins> words"
