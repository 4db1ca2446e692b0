"""The worker's similarity histogram resolves what the dashboard asks of it: the dashboard's own
median query, evaluated by Prometheus (``promtool test rules``) over the buckets the worker
exports, reads identical replicas as about 1.0 rather than the middle of a 0.9-1.0 bucket."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml
from prometheus_client import CollectorRegistry

from comparators.metrics import SIMILARITY_BUCKETS, WorkerMetrics
from tests.monitoring import concrete, load_dashboard, panel_queries
from tests.test_observability import require

STEPS = 10  # minutes of input series; queries are evaluated at the end


def _input_series(registry: CollectorRegistry) -> list[dict[str, str]]:
    """Every exported similarity bucket as a promtool series growing by its count per minute."""
    series = []
    for family in registry.collect():
        if family.name != "darklaunch_similarity":
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                series.append(
                    {
                        "series": f"darklaunch_similarity_bucket{{{labels}}}",
                        "values": f"0+{sample.value:g}x{STEPS}",
                    }
                )
    return series


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
                "input_series": _input_series(registry),
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
    path = tmp_path / "similarity_test.yml"
    path.write_text(yaml.safe_dump(tests, sort_keys=False))
    result = subprocess.run(
        [promtool, "test", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
