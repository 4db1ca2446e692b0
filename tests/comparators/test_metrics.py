"""The worker's metrics resolve what the dashboard and the alerts ask of them, evaluated by
Prometheus itself (``promtool test rules``) over series built from what the worker exports:

* the similarity histogram: the dashboard's own median query reads identical replicas as about
  1.0 rather than the middle of a 0.9-1.0 bucket;
* the changed-answer counter: ``DarklaunchCandidateChangedAnswersOverNoise`` fires on the
  gate's reading (the changed-answer rate above the replica's by more than 5 points), per
  candidate, with the noise floor at 0 when no replica answer had a verdict, and neither on a
  handful of answers nor before its ``for:``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from comparators.metrics import SIMILARITY_BUCKETS, WorkerMetrics
from tests.monitoring import (
    ALERTS,
    alert_rules,
    concrete,
    growing_series,
    load_dashboard,
    panel_queries,
    run_promtool_tests,
)
from tests.test_observability import require

STEPS = 10  # minutes of input series; queries are evaluated at the end


def _dashboard_median(ref_id: str) -> str:
    [query] = [
        q for q in panel_queries(load_dashboard()) if "similarity" in q.expr and q.ref_id == ref_id
    ]
    return concrete(query.expr, __rate_interval="3m")


def test_fine_buckets_near_one() -> None:
    assert SIMILARITY_BUCKETS[-6:] == (0.95, 0.98, 0.99, 0.995, 0.999, 1.0)
    assert list(SIMILARITY_BUCKETS) == sorted(set(SIMILARITY_BUCKETS))


def test_the_dashboards_median_reads_identical_replicas_as_one(tmp_path: Path) -> None:
    promtool = require("promtool")
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    for _ in range(200):
        metrics.similarity.labels("replica", "replica").observe(1.0)
    for _ in range(100):
        metrics.similarity.labels("candidate", "cand").observe(0.97)
    checks = [
        # With one bucket for 0.9-1.0 these read 0.95, and both checks came out 0.
        (f"({_dashboard_median('B')}) > bool 0.999", "{}"),
        (f"abs(({_dashboard_median('A')}) - 0.97) < bool 0.01", '{candidate="cand"}'),
    ]
    tests = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": growing_series(registry, "darklaunch_similarity_bucket", STEPS),
                "promql_expr_test": [
                    {
                        "expr": expr,
                        "eval_time": f"{STEPS}m",
                        "exp_samples": [{"labels": labels, "value": 1}],
                    }
                    for expr, labels in checks
                ],
            }
        ],
    }
    run_promtool_tests(promtool, tests, tmp_path / "similarity_test.yml")


CHANGED_ALERT = "DarklaunchCandidateChangedAnswersOverNoise"
ALERT_MINUTES = 60  # of input series: past the 30m window plus the 15m ``for:``

# (role, candidate) -> (changed, unchanged) answers judged per minute
PerMinute = dict[tuple[str, str], tuple[int, int]]


def _judged(per_minute: PerMinute) -> list[dict[str, str]]:
    """The worker's ``darklaunch_answers_judged_total`` series, each growing every minute by
    its count in ``per_minute``, including the series ``create_series`` starts at zero."""
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    for (role, candidate), (changed, unchanged) in per_minute.items():
        metrics.create_series(role, candidate)
        metrics.judged.labels(role, candidate, "true").inc(changed)
        metrics.judged.labels(role, candidate, "false").inc(unchanged)
    return growing_series(registry, "darklaunch_answers_judged_total", ALERT_MINUTES)


def _firing(candidate: str, excess: str) -> dict[str, Any]:
    """The alert as Prometheus should fire it: the rule's own labels, and its annotations with
    their two template fields filled in (``excess`` as ``humanizePercentage`` prints it), so the
    test checks the value and the labels without copying the rule's wording."""
    [rule] = [r for r in alert_rules() if r["alert"] == CHANGED_ALERT]
    fields = {"{{ $labels.candidate }}": candidate, "{{ $value | humanizePercentage }}": excess}
    annotations = {}
    for key, template in rule["annotations"].items():
        text = str(template)
        for field, value in fields.items():
            text = text.replace(field, value)
        assert "{{" not in text, f"{key} uses a template field this test does not fill"
        annotations[key] = text
    return {
        "exp_labels": {**rule["labels"], "candidate": candidate},
        "exp_annotations": annotations,
    }


def _case(per_minute: PerMinute, expected: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """One promtool test group: the series, and the firing alerts expected at each time."""
    return {
        "interval": "1m",
        "input_series": _judged(per_minute),
        "alert_rule_test": [
            {"eval_time": at, "alertname": CHANGED_ALERT, "exp_alerts": alerts}
            for at, alerts in expected.items()
        ],
    }


def test_changed_answers_alert_reads_the_rate_above_the_noise_floor(tmp_path: Path) -> None:
    promtool = require("promtool")
    end = f"{ALERT_MINUTES}m"
    cases = [
        # 20% and 14% of answers changed against the replica's 10%: 10 points over the floor
        # fires, 4 points does not. At 10m the condition has held for less than 15m: pending.
        _case(
            {
                ("candidate", "cand-bad"): (4, 16),
                ("candidate", "cand-ok"): (7, 43),
                ("replica", "replica"): (1, 9),
            },
            {"10m": [], end: [_firing("cand-bad", "10%")]},
        ),
        # No replica at all (mirror.noise_rate = 0): the floor counts as 0, so 8% fires.
        _case({("candidate", "cand"): (2, 23)}, {end: [_firing("cand", "8%")]}),
        # Replicas scored but none had a verdict (their series exist, flat at zero): 0/0 must
        # give a floor of 0, not a NaN that silences the alert.
        _case(
            {("candidate", "cand"): (2, 23), ("replica", "replica"): (0, 0)},
            {end: [_firing("cand", "8%")]},
        ),
        # Every answer changed, but only 30 judged in 30 minutes: under the minimum of 50.
        _case({("candidate", "cand"): (1, 0)}, {end: []}),
    ]
    tests = {"rule_files": [str(ALERTS)], "evaluation_interval": "1m", "tests": cases}
    run_promtool_tests(promtool, tests, tmp_path / "changed_answers_test.yml")
