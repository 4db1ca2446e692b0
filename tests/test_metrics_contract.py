"""The dashboard, the alert rules and docs/metrics.md against what the exporters publish.

Fast and offline: the metric families come from the proxy's and the worker's registries, so
a renamed metric or label fails here before it silently empties a panel or an alert.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.monitoring import (
    DASHBOARD,
    MetricInfo,
    alert_rules,
    all_panels,
    bucket_range,
    concrete,
    doc_rows,
    exported_metrics,
    load_dashboard,
    panel_queries,
    row_panels,
    unknown_labels,
    unknown_names,
)

ROWS = ("Traffic and sampling", "Latency", "Quality", "Cost", "Health", "Rollout")
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
# Each rollback trigger the issue asks for, by the alert that implements it, and the staged
# rollout's own rollback (labelled alike, so the same route blocks the candidate's promotion).
ROLLBACK_ALERTS = {
    "DarklaunchCandidateErrorRateHigh",
    "DarklaunchCandidateErrorRateAboveIncumbent",
    "DarklaunchCandidateLatencyP95OverBudget",
    "DarklaunchCandidateChangedAnswersOverNoise",
    "DarklaunchCandidateCostPerQueryOverBudget",
    "DarklaunchRecorderDroppingRecords",
    "DarklaunchRolloutRolledBack",
}
ROLLOUT_ALERTS = {
    "DarklaunchRolloutRolledBack",
    "DarklaunchRolloutFallbacksHigh",
    "DarklaunchRolloutStateStale",
}
ROLLOUT_METRIC = re.compile(r"\bdarklaunch_rollout_[a-z_]+")


@pytest.fixture(scope="module")
def exported() -> dict[str, MetricInfo]:
    return exported_metrics()


def test_exported_names_follow_the_conventions(exported: dict[str, MetricInfo]) -> None:
    assert len(exported) >= 20
    for info in exported.values():
        assert info.name.startswith("darklaunch_")
        assert info.name.endswith("_total") == (info.kind == "counter"), info.name
        assert not {"pair_id", "user", "prompt"} & set(info.labels), info.name


def test_dashboard_uses_only_published_metrics_and_labels(
    exported: dict[str, MetricInfo],
) -> None:
    text = DASHBOARD.read_text(encoding="utf-8")
    assert unknown_names(text, exported) == set()
    assert unknown_labels(text, exported) == set()


def test_alerts_use_only_published_metrics_and_labels(exported: dict[str, MetricInfo]) -> None:
    text = json.dumps(alert_rules())
    assert unknown_names(text, exported) == set()
    assert unknown_labels(text, exported) == set()


def test_the_name_check_catches_a_typo(exported: dict[str, MetricInfo]) -> None:
    expr = (
        'rate(darklaunch_request_duration_second_bucket{role="candidate"}[1m])'
        ' + darklaunch_divergence_count{side="mirror"}'
    )
    assert unknown_names(expr, exported) == {"darklaunch_request_duration_second_bucket"}
    assert unknown_labels(expr, exported) == {"darklaunch_divergence_count:side"}


def test_dashboard_is_importable_and_parameterised() -> None:
    dashboard = load_dashboard()
    assert dashboard["uid"] == "darklaunch"
    assert dashboard["schemaVersion"] >= 36
    assert "__inputs" not in dashboard
    assert dashboard.get("id") is None
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    candidate = variables["candidate"]
    assert candidate["type"] == "query"
    assert candidate["multi"] is True
    assert candidate["includeAll"] is True
    assert candidate["datasource"] == DATASOURCE
    assert re.fullmatch(
        r"label_values\(darklaunch_\w+\{[^}]*\}, candidate\)", candidate["definition"]
    )
    panels = all_panels(dashboard)
    assert [p["title"] for p in panels if p["type"] == "row"] == list(ROWS)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        if panel["type"] != "row":
            assert panel["datasource"] == DATASOURCE, panel["title"]
            assert panel["targets"], panel["title"]


def test_every_query_uses_the_datasource_variable_and_filters_candidates() -> None:
    queries = panel_queries(load_dashboard())
    assert len(queries) >= 40
    for query in queries:
        where = f"{query.panel} / {query.ref_id}"
        assert query.datasource == DATASOURCE, where
        concrete(query.expr)  # every variable it uses has a concrete value for the live test
        if 'role="candidate"' in query.expr or 'side="mirror"' in query.expr:
            assert 'candidate=~"$candidate"' in query.expr, where


def test_every_alert_has_a_window_severity_and_explanation() -> None:
    rules = alert_rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    assert set(names) >= ROLLBACK_ALERTS | {"DarklaunchBreakerOpen", "DarklaunchWorkerLagGrowing"}
    for rule in rules:
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert rule["annotations"]["description"], rule["alert"]
        assert (rule["labels"].get("rollback") == "true") == (rule["alert"] in ROLLBACK_ALERTS)


def test_docs_list_every_metric_with_its_type_labels_and_buckets(
    exported: dict[str, MetricInfo],
) -> None:
    rows = doc_rows()
    assert set(rows) - set(exported) == set(), "docs/metrics.md lists metrics nobody exports"
    assert set(exported) - set(rows) == set(), "exported metrics missing from docs/metrics.md"
    for name, info in exported.items():
        row = rows[name]
        assert row.kind == info.kind, name
        assert row.labels == info.labels, name
        assert row.meaning, name
        assert row.buckets == (bucket_range(info) if info.kind == "histogram" else ""), name


def test_the_rollout_row_reads_every_rollout_metric_and_nothing_else(
    exported: dict[str, MetricInfo],
) -> None:
    """Each Rollout panel reads the rollout's metrics (only those: the row is about the
    rollout), and between them the panels read every one the proxy exports with `rollout:`."""
    dashboard = load_dashboard()
    panels = row_panels(dashboard, "Rollout")
    assert len(panels) >= 6
    used: set[str] = set()
    for query in panel_queries(dashboard, panels):
        names = set(re.findall(r"\bdarklaunch_[a-z0-9_]+", query.expr))
        rollout = {name for name in names if ROLLOUT_METRIC.fullmatch(name)}
        assert rollout, f"{query.panel} / {query.ref_id} reads no darklaunch_rollout_* metric"
        assert names == rollout, f"{query.panel} / {query.ref_id} reads {names - rollout}"
        used |= rollout
    assert used == {name for name in exported if ROLLOUT_METRIC.fullmatch(name)}
    assert any(p["type"] == "state-timeline" for p in panels)
    # Only the rollout's panels read its metrics: the other rows stay meaningful without one.
    others = [p for p in all_panels(dashboard) if p not in panels and p["type"] != "row"]
    assert not any(ROLLOUT_METRIC.search(q.expr) for q in panel_queries(dashboard, others))


def test_the_rollout_alerts_read_the_rollout_state() -> None:
    rules = {rule["alert"]: rule for rule in alert_rules()}
    assert set(rules) >= ROLLOUT_ALERTS
    for name in ROLLOUT_ALERTS:
        assert ROLLOUT_METRIC.search(rules[name]["expr"]), name
    rolled_back = rules["DarklaunchRolloutRolledBack"]
    expr = " ".join(rolled_back["expr"].split())
    assert 'max(darklaunch_rollout_phase{phase="rolled_back"}) == 1' in expr
    assert rolled_back["labels"] == {"severity": "critical", "rollback": "true"}
    fallbacks = rules["DarklaunchRolloutFallbacksHigh"]["expr"]
    assert 'served_by="fallback"' in fallbacks
    assert "darklaunch_rollout_sync_errors_total" in rules["DarklaunchRolloutStateStale"]["expr"]
