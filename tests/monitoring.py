"""The metrics the exporters publish, and the dashboard, alert rules and metrics doc that
use them, as data for the tests that keep them in step."""

from __future__ import annotations

import json
import math
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.metrics import MetricWrapperBase

from comparators.judge.metrics import JudgeMetrics
from comparators.metrics import WorkerMetrics
from proxy.metrics import ProxyMetrics, RecorderMetrics, RolloutMetrics

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "config" / "grafana" / "darklaunch.json"
ALERTS = ROOT / "config" / "prometheus" / "alerts.yml"
SCRAPE_EXAMPLE = ROOT / "config" / "prometheus" / "prometheus.yml"
METRICS_DOC = ROOT / "docs" / "metrics.md"

METRIC_NAME = re.compile(r"\bdarklaunch_[a-z0-9_]+")
# ``metric{matchers}``: the label names a selector filters on.
SELECTOR = re.compile(r"\b(darklaunch_[a-z0-9_]+)\{([^}]*)\}")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


@dataclass(frozen=True)
class MetricInfo:
    """One exported metric family as scraped: counters carry their ``_total``."""

    name: str
    kind: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...]  # finite upper bounds; histograms only

    @property
    def sample_names(self) -> set[str]:
        if self.kind == "histogram":
            return {self.name + suffix for suffix in HISTOGRAM_SUFFIXES}
        return {self.name}


def exported_metrics() -> dict[str, MetricInfo]:
    """Every metric the proxy (data plane, recorder and staged rollout) and the worker publish.

    All three share one registry here, so a name used by both processes fails loudly: they
    are scraped into the same Prometheus. prometheus_client has no public accessor for a
    family's label names or buckets before a child exists, hence the private attributes.
    """
    registry = CollectorRegistry()
    holders = (
        ProxyMetrics(registry),
        RecorderMetrics(registry),
        RolloutMetrics(registry),
        WorkerMetrics(registry),
        JudgeMetrics(registry),
    )
    found: dict[str, MetricInfo] = {}
    for holder in holders:
        for metric in vars(holder).values():
            if not isinstance(metric, MetricWrapperBase):
                continue
            kind = str(metric._type)
            name = metric._name + ("_total" if kind == "counter" else "")
            buckets: tuple[float, ...] = ()
            if isinstance(metric, Histogram):
                buckets = tuple(b for b in metric._upper_bounds if not math.isinf(b))
            found[name] = MetricInfo(name, kind, tuple(metric._labelnames), buckets)
    return found


def normalise(name: str, exported: dict[str, MetricInfo]) -> str:
    """A histogram's ``_bucket``/``_sum``/``_count`` series name to its family name."""
    for suffix in HISTOGRAM_SUFFIXES:
        stem = name.removesuffix(suffix)
        if stem != name and stem in exported and exported[stem].kind == "histogram":
            return stem
    return name


def unknown_names(text: str, exported: dict[str, MetricInfo]) -> set[str]:
    return {n for n in METRIC_NAME.findall(text) if normalise(n, exported) not in exported}


def unknown_labels(text: str, exported: dict[str, MetricInfo]) -> set[str]:
    """``metric{label=...}`` matchers on labels the metric does not have."""
    bad: set[str] = set()
    for name, matchers in SELECTOR.findall(text):
        info = exported.get(normalise(name, exported))
        if info is None:
            continue
        allowed = {*info.labels, "job", "instance"}
        if info.kind == "histogram" and name.endswith("_bucket"):
            allowed.add("le")
        bad |= {f"{name}:{label}" for label in MATCHER.findall(matchers)} - {
            f"{name}:{label}" for label in allowed
        }
    return bad


def bucket_range(info: MetricInfo) -> str:
    """How docs/metrics.md states a histogram's buckets."""
    return f"{info.buckets[0]:g} to {info.buckets[-1]:g} ({len(info.buckets)} buckets)"


# ------------------------------------------------------------------------------ dashboard


@dataclass(frozen=True)
class PanelQuery:
    panel: str
    ref_id: str
    expr: str
    datasource: Any


def load_dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return dashboard


def all_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, including those inside collapsed rows."""
    panels: list[dict[str, Any]] = []
    for panel in dashboard.get("panels", []):
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return panels


def row_panels(dashboard: dict[str, Any], row: str) -> list[dict[str, Any]]:
    """The panels of the row titled ``row``: inside it when it is collapsed, else the
    top-level panels after it, up to the next row."""
    found: list[dict[str, Any]] = []
    current = None
    for panel in dashboard.get("panels", []):
        if panel["type"] == "row":
            current = panel["title"]
            if current == row:
                found.extend(panel.get("panels", []))
        elif current == row:
            found.append(panel)
    return found


def panel_queries(
    dashboard: dict[str, Any], panels: list[dict[str, Any]] | None = None
) -> list[PanelQuery]:
    """The queries of ``panels`` (by default every panel of ``dashboard``)."""
    return [
        PanelQuery(panel["title"], target["refId"], target["expr"], target.get("datasource"))
        for panel in (all_panels(dashboard) if panels is None else panels)
        for target in panel.get("targets", [])
    ]


# What Grafana would put in place of its variables, for querying Prometheus directly.
CONCRETE = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "5m",
    "candidate": ".*",
    "route": ".*",
}
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")


def concrete(expr: str, **values: str) -> str:
    """``expr`` with every dashboard variable replaced (by ``values``, else by
    :data:`CONCRETE`); an unknown variable is an error."""
    known = {**CONCRETE, **values}

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in known:
            raise KeyError(f"no concrete value for dashboard variable ${name} in {expr!r}")
        return known[name]

    return _VARIABLE.sub(substitute, expr)


# --------------------------------------------------------------------------------- alerts


def alert_rules() -> list[dict[str, Any]]:
    data = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [rule for group in data["groups"] for rule in group["rules"]]


# ------------------------------------------------------------------------ promtool tests


def growing_series(registry: CollectorRegistry, sample: str, steps: int) -> list[dict[str, str]]:
    """Every ``sample`` series in ``registry`` as a ``promtool test rules`` input series that
    starts at 0 and grows by the registry's value every interval, for ``steps`` intervals.

    Built from what an exporter really publishes (its names, labels and pre-created zero
    series) rather than written by hand, so a renamed metric or label fails the test."""
    series = []
    for family in registry.collect():
        for found in family.samples:
            if found.name != sample:
                continue
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(found.labels.items()))
            series.append(
                {"series": f"{sample}{{{labels}}}", "values": f"0+{found.value:g}x{steps}"}
            )
    return series


def run_promtool_tests(promtool: str, tests: dict[str, Any], path: Path) -> None:
    """Write ``tests`` (a ``promtool test rules`` file) to ``path`` and run it; Prometheus's
    own rule engine evaluates the queries and alerts, so a pass means Prometheus agrees."""
    path.write_text(yaml.safe_dump(tests, sort_keys=False), encoding="utf-8")
    result = subprocess.run(
        [promtool, "test", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# ----------------------------------------------------------------------------- metrics doc


@dataclass(frozen=True)
class DocRow:
    name: str
    kind: str
    labels: tuple[str, ...]
    meaning: str
    buckets: str


def doc_rows() -> dict[str, DocRow]:
    """The rows of the table in docs/metrics.md whose first cell is a metric name."""
    rows: dict[str, DocRow] = {}
    for line in METRICS_DOC.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 5 or not cells[0].startswith("`darklaunch_"):
            continue
        name, kind, labels, meaning, buckets = cells
        rows[name.strip("`")] = DocRow(
            name.strip("`"), kind, tuple(re.findall(r"`([a-z_]+)`", labels)), meaning, buckets
        )
    return rows
