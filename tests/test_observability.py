"""The dashboard and the alert rules against a real Prometheus scraping a real proxy and worker,
and the staged rollout's alerts evaluated by Prometheus's rule engine (``promtool test rules``).

Debian's ``prometheus`` package provides ``prometheus`` and ``promtool``. Without them the
tests skip, except in CI (``CI`` set), where they fail: CI installs the package.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
import yaml
from prometheus_client import CollectorRegistry

from comparators.engine import ScoringEngine
from comparators.metrics import WorkerMetrics
from comparators.service import metrics_listener
from comparators.worker import CompareWorker
from proxy.config.rollout import RolloutConfig
from proxy.config.root import Config
from proxy.metrics import RolloutMetrics
from proxy.rollout.state import Action
from proxy.rollout.store import RolloutStore
from proxy.server import running_proxy
from proxy.sim.profile import SimProfile
from proxy.sim.server import running_simulator
from tests.conftest import make_config
from tests.monitoring import (
    ALERTS,
    SCRAPE_EXAMPLE,
    PanelQuery,
    alert_rules,
    concrete,
    growing_series,
    load_dashboard,
    panel_queries,
    row_panels,
    run_promtool_tests,
)

SCRAPE_INTERVAL = "1s"
PROMETHEUS_START_S = 15.0
TARGETS_UP_S = 15.0
SERIES_DEADLINE_S = 35.0
PRICES = {
    "sim-model": {"input_cost_per_token": 2e-6, "output_cost_per_token": 8e-6},
    "cand-model": {"input_cost_per_token": 1e-7, "output_cost_per_token": 4e-7},
}


def require(binary: str) -> str:
    path = shutil.which(binary)
    if path is not None:
        return path
    if os.environ.get("CI"):
        pytest.fail(f"{binary} is not installed; CI must install Debian's prometheus package")
    pytest.skip(f"{binary} is not installed (apt-get install prometheus); CI runs this test")


def test_promtool_accepts_the_rules_and_the_scrape_example() -> None:
    promtool = require("promtool")
    for args in (["check", "rules", str(ALERTS)], ["check", "config", str(SCRAPE_EXAMPLE)]):
        result = subprocess.run(
            [promtool, *args], capture_output=True, text=True, timeout=30, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _host_port(url: str) -> str:
    return url.removeprefix("http://").rstrip("/")


@contextlib.asynccontextmanager
async def running_prometheus(
    binary: str, workdir: Path, proxy_url: str, worker_url: str
) -> AsyncIterator[str]:
    """A Prometheus on 127.0.0.1 scraping both targets every second, with the real rules."""
    config = {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "rule_files": [str(ALERTS)],
        "scrape_configs": [
            {
                "job_name": "darklaunch-proxy",
                "static_configs": [{"targets": [_host_port(proxy_url)]}],
            },
            {
                "job_name": "darklaunch-worker",
                "static_configs": [{"targets": [_host_port(worker_url)]}],
            },
        ],
    }
    config_path = workdir / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    log_path = workdir / "prometheus.log"
    address = f"127.0.0.1:{_free_port()}"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            binary,
            f"--config.file={config_path}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address={address}",
            stdout=log,
            stderr=log,
        )
    url = f"http://{address}"
    try:
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + PROMETHEUS_START_S
            while True:
                if process.returncode is not None:
                    raise AssertionError(f"prometheus exited:\n{log_path.read_text()}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"{url}/-/ready") as response:
                        if response.status == 200:
                            break
                if time.monotonic() > deadline:
                    raise AssertionError(f"prometheus not ready:\n{log_path.read_text()}")
                await asyncio.sleep(0.1)
        yield url
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _api(session: aiohttp.ClientSession, url: str, path: str, **form: str) -> Any:
    async with session.post(f"{url}/api/v1/{path}", data=form) as response:
        body: dict[str, Any] = await response.json()
    assert body.get("status") == "success", f"{path} {form}: {body}"
    return body["data"]


async def _wait_for_targets(session: aiohttp.ClientSession, url: str) -> None:
    deadline = time.monotonic() + TARGETS_UP_S
    while True:
        async with session.get(f"{url}/api/v1/targets") as response:
            targets = (await response.json())["data"]["activeTargets"]
        health = {t["labels"]["job"]: t["health"] for t in targets}
        if health == {"darklaunch-proxy": "up", "darklaunch-worker": "up"}:
            return
        assert time.monotonic() < deadline, f"targets never came up: {targets}"
        await asyncio.sleep(0.2)


def _finite(result: list[dict[str, Any]]) -> bool:
    return any(math.isfinite(float(series["value"][1])) for series in result)


async def _send_traffic(
    proxy_url: str, stop: asyncio.Event, max_requests: int = 5000, max_s: float = 80.0
) -> int:
    """Chat, streamed chat, completions and a GET that is not mirrored, until told to stop."""
    rng = random.Random(6)
    sent = 0
    deadline = time.monotonic() + max_s
    async with aiohttp.ClientSession() as session:
        while not stop.is_set() and sent < max_requests and time.monotonic() < deadline:
            n = sent
            sent += 1
            prompt = f"Question {n % 97}: how should we plan release {rng.randint(1, 9)}?"
            kind = n % 7
            if kind == 6:
                async with session.get(f"{proxy_url}/v1/models") as response:
                    await response.read()
            elif kind == 5:
                body = {"model": "sim-model", "prompt": prompt, "max_tokens": 40}
                async with session.post(f"{proxy_url}/v1/completions", json=body) as response:
                    await response.read()
            else:
                body = {
                    "model": "sim-model",
                    "messages": [{"role": "user", "content": prompt}],
                    "stream": kind % 2 == 1,
                }
                async with session.post(f"{proxy_url}/v1/chat/completions", json=body) as response:
                    await response.read()
            await asyncio.sleep(0.02)
    return sent


def _config(inc_url: str, cand_url: str, redis_url: str, campaign: str, tmp: Path) -> Config:
    return make_config(
        inc_url,
        [{"name": "cand-a", "url": cand_url, "model": "cand-model"}],
        mirror={"sample_rate": 1.0, "noise_rate": 0.5},
        recording={
            "redis_url": redis_url,
            "campaign": campaign,
            "spool_dir": str(tmp / "spool"),
            "batch_size": 16,
        },
        prices={"models": PRICES},
        # Small enough that the candidate breaks them, so breach series exist.
        budgets={"latency_ms": 1, "cost_usd": 1e-9},
        worker={"block_ms": 100, "batch_size": 32, "metrics": {"port": 0}},
    )


@pytest.mark.timeout(120)
async def test_every_panel_and_alert_evaluates_against_a_real_prometheus(
    redis_url: str, campaign: str, tmp_path: Path
) -> None:
    binary = require("prometheus")
    dashboard = load_dashboard()
    # The Rollout row reads what a proxy exports only with `rollout:`: the next test's.
    rollout = {panel["title"] for panel in row_panels(dashboard, "Rollout")}
    # Every panel with all candidates selected, and with just the one.
    queries = [
        (query, concrete(query.expr, candidate=selected))
        for query in panel_queries(dashboard)
        if query.panel not in rollout
        for selected in (".*", "cand-a")
    ]
    incumbent = SimProfile(
        name="inc", seed=1, latency_ms=3, token_interval_ms=1, nondeterminism=0.3,
        refusal_rate=0.05, output_tokens_mean=30,
    )  # fmt: skip
    candidate = SimProfile(
        name="cand", seed=2, latency_ms=6, token_interval_ms=1, nondeterminism=0.3,
        error_rate=0.15, refusal_rate=0.15, divergence_rate=0.3, output_tokens_mean=30,
    )  # fmt: skip
    async with (
        running_simulator(incumbent) as inc,
        running_simulator(candidate) as cand,
    ):
        config = _config(inc.url, cand.url, redis_url, campaign, tmp_path)
        registry = CollectorRegistry()
        metrics = WorkerMetrics(registry)
        engine = ScoringEngine(
            config, on_comparator_error=lambda name: metrics.comparator_errors.labels(name).inc()
        )
        client = aioredis.Redis.from_url(redis_url)
        worker = CompareWorker(
            client, campaign, engine, metrics, consumer="observability", batch_size=32, block_ms=100
        )
        stop_traffic, stop_worker = asyncio.Event(), asyncio.Event()
        try:
            async with (
                running_proxy(config) as proxy,
                metrics_listener(registry, "127.0.0.1", 0) as worker_url,
                asyncio.TaskGroup() as tasks,
            ):
                traffic = tasks.create_task(_send_traffic(proxy.url, stop_traffic))
                tasks.create_task(worker.run(stop=stop_worker))
                try:
                    async with (
                        running_prometheus(binary, tmp_path, proxy.admin_url, worker_url) as url,
                        aiohttp.ClientSession() as session,
                    ):
                        await _wait_for_targets(session, url)
                        await _check_queries(session, url, queries)
                        await _check_alerts(session, url)
                finally:
                    stop_traffic.set()
                    stop_worker.set()
            assert traffic.result() > 50
        finally:
            await client.aclose()


async def _check_queries(
    session: aiohttp.ClientSession, url: str, queries: list[tuple[PanelQuery, str]]
) -> None:
    """Every panel query returns a series with a number, once rate windows hold samples."""
    deadline = time.monotonic() + SERIES_DEADLINE_S
    while True:
        empty = []
        for query, expr in queries:
            data = await _api(session, url, "query", query=expr)
            if not _finite(data["result"]):
                empty.append(f"{query.panel} / {query.ref_id}:\n{expr}")
        if not empty:
            return
        assert time.monotonic() < deadline, "panels without data:\n" + "\n".join(empty)
        await asyncio.sleep(1.0)


async def _check_alerts(session: aiohttp.ClientSession, url: str) -> None:
    """Every alert expression evaluates, through the query API and in the rule manager; and
    the candidate's 15% error rate trips its rollback trigger (pending: its ``for:`` is 5m)."""
    rules = alert_rules()
    for rule in rules:
        await _api(session, url, "query", query=rule["expr"])
    deadline = time.monotonic() + 15.0
    while True:
        async with session.get(f"{url}/api/v1/rules", params={"type": "alert"}) as response:
            groups = (await response.json())["data"]["groups"]
        loaded = {r["name"]: r for g in groups for r in g["rules"]}
        assert set(loaded) == {rule["alert"] for rule in rules}
        tripped = loaded["DarklaunchCandidateErrorRateHigh"]["alerts"]
        if all(r["health"] != "unknown" for r in loaded.values()) and tripped:
            break
        assert time.monotonic() < deadline, f"rules not evaluated or not tripped: {loaded}"
        await asyncio.sleep(0.5)
    failing = {name: r.get("lastError") for name, r in loaded.items() if r["health"] != "ok"}
    assert failing == {}
    assert [(a["labels"]["candidate"], a["state"]) for a in tripped] == [("cand-a", "pending")]


# ----------------------------------------------------------------------- staged rollout

ROLLOUT = {"candidate": "cand-a", "steps": [0.5, 1.0], "sync_interval_s": 0.2}


@pytest.mark.timeout(120)
async def test_the_rollout_row_and_alerts_evaluate_against_a_real_prometheus(
    redis_url: str, campaign: str, tmp_path: Path
) -> None:
    """A proxy serving half its cohort from a candidate that fails 30% of the time: every
    Rollout panel has data, the fallbacks alert trips (pending: its ``for:`` is 5m), and a
    rollback fires DarklaunchRolloutRolledBack at once."""
    binary = require("prometheus")
    dashboard = load_dashboard()
    queries = [
        (query, concrete(query.expr, candidate=selected))
        for query in panel_queries(dashboard, row_panels(dashboard, "Rollout"))
        for selected in (".*", "cand-a")
    ]
    assert queries
    incumbent = SimProfile(name="inc", seed=1, latency_ms=3, token_interval_ms=1)
    candidate = SimProfile(
        name="cand", seed=2, latency_ms=3, token_interval_ms=1, error_rate=0.3, error_status=503
    )
    client = aioredis.Redis.from_url(redis_url)
    store = RolloutStore(client, campaign, RolloutConfig.model_validate(ROLLOUT))
    stop = asyncio.Event()
    try:
        async with (
            running_simulator(incumbent) as inc,
            running_simulator(candidate) as cand,
        ):
            config = make_config(
                inc.url,
                [{"name": "cand-a", "url": cand.url, "model": "cand-model"}],
                recording={
                    "redis_url": redis_url,
                    "campaign": campaign,
                    "spool_dir": str(tmp_path / "spool"),
                },
                rollout=ROLLOUT,
            )
            await store.act(Action.START, actor="test", reason="observability")
            async with (
                running_proxy(config) as proxy,
                metrics_listener(CollectorRegistry(), "127.0.0.1", 0) as worker_url,
                asyncio.TaskGroup() as tasks,
            ):
                traffic = tasks.create_task(_send_traffic(proxy.url, stop))
                try:
                    async with (
                        running_prometheus(binary, tmp_path, proxy.admin_url, worker_url) as url,
                        aiohttp.ClientSession() as session,
                    ):
                        await _wait_for_targets(session, url)
                        await _check_queries(session, url, queries)
                        fallbacks = await _rollout_alerts(session, url, "FallbacksHigh")
                        assert fallbacks == [({"candidate": "cand-a"}, "pending")]
                        await store.act(Action.ROLLBACK, actor="test", reason="observability")
                        rolled_back = await _rollout_alerts(session, url, "RolledBack")
                        assert rolled_back == [({}, "firing")]
                finally:
                    stop.set()
            assert traffic.result() > 50
    finally:
        await client.aclose()


async def _rollout_alerts(
    session: aiohttp.ClientSession, url: str, name: str
) -> list[tuple[dict[str, str], str]]:
    """Once ``DarklaunchRollout<name>`` has an alert: each alert's own labels (the rule's
    left out) and state. Every rollout rule must have evaluated without an error, and the
    state must not be stale (Redis is up)."""
    rules = {rule["alert"]: rule for rule in alert_rules()}
    deadline = time.monotonic() + 20.0
    while True:
        async with session.get(f"{url}/api/v1/rules", params={"type": "alert"}) as response:
            groups = (await response.json())["data"]["groups"]
        loaded = {r["name"]: r for g in groups for r in g["rules"]}
        rollout = {n: r for n, r in loaded.items() if n.startswith("DarklaunchRollout")}
        assert len(rollout) == 3
        alerts = rollout[f"DarklaunchRollout{name}"]["alerts"]
        if alerts and all(r["health"] == "ok" for r in rollout.values()):
            break
        assert time.monotonic() < deadline, f"{name}: no alert, or rules failing: {rollout}"
        await asyncio.sleep(0.5)
    assert rollout["DarklaunchRolloutStateStale"]["alerts"] == []
    own = set(rules[f"DarklaunchRollout{name}"]["labels"]) | {"alertname"}
    return [
        ({k: v for k, v in alert["labels"].items() if k not in own}, alert["state"])
        for alert in alerts
    ]


ROLLOUT_MINUTES = 20  # of input series: past every rollout alert's window plus its ``for:``


def _expected(alert: str, labels: dict[str, str], fields: dict[str, str]) -> dict[str, Any]:
    """``alert`` as Prometheus should fire it: the rule's labels and ``labels``, and its
    annotations with their template fields filled in from ``fields``."""
    [rule] = [r for r in alert_rules() if r["alert"] == alert]
    annotations = {}
    for key, template in rule["annotations"].items():
        text = str(template)
        for field, value in fields.items():
            text = text.replace(field, value)
        assert "{{" not in text, f"{key} uses a template field this test does not fill"
        annotations[key] = text
    return {"exp_labels": {**rule["labels"], **labels}, "exp_annotations": annotations}


def _alert_case(
    alert: str, series: list[dict[str, str]], expected: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    return {
        "interval": "1m",
        "input_series": series,
        "alert_rule_test": [
            {"eval_time": at, "alertname": alert, "exp_alerts": alerts}
            for at, alerts in expected.items()
        ],
    }


def _requests(per_minute: dict[str, int]) -> list[dict[str, str]]:
    """The proxy's ``darklaunch_rollout_requests_total`` series for candidate cand-a, each
    growing every minute by its count in ``per_minute`` (by ``served_by``)."""
    registry = CollectorRegistry()
    metrics = RolloutMetrics(registry)
    for served_by, count in per_minute.items():
        metrics.requests.labels("cand-a", served_by).inc(count)
    return growing_series(registry, "darklaunch_rollout_requests_total", ROLLOUT_MINUTES)


def _phases(instance: str, values: str) -> list[dict[str, str]]:
    """One proxy's ``darklaunch_rollout_phase`` series: ``rolled_back`` takes ``values`` (in
    promtool's notation), every other phase is 0 throughout."""
    registry = CollectorRegistry()
    RolloutMetrics(registry)
    [family] = [f for f in registry.collect() if f.name == "darklaunch_rollout_phase"]
    where = f'instance="{instance}", job="darklaunch-proxy"'
    return [
        {
            "series": f'darklaunch_rollout_phase{{phase="{sample.labels["phase"]}", {where}}}',
            "values": values if sample.labels["phase"] == "rolled_back" else f"0x{ROLLOUT_MINUTES}",
        }
        for sample in family.samples
    ]


def test_the_rollout_alerts_fire_when_they_should(tmp_path: Path) -> None:
    promtool = require("promtool")
    end = f"{ROLLOUT_MINUTES}m"
    fallbacks, rolled_back, stale = (
        "DarklaunchRolloutFallbacksHigh",
        "DarklaunchRolloutRolledBack",
        "DarklaunchRolloutStateStale",
    )
    fields = {"{{ $labels.candidate }}": "cand-a", "{{ $value | humanizePercentage }}": "10%"}
    high = _expected(fallbacks, {"candidate": "cand-a"}, fields)
    p1 = _expected(
        stale,
        {"instance": "p1", "job": "darklaunch-proxy"},
        {"{{ $labels.instance }}": "p1", '{{ $value | printf "%.0f" }}': "60"},
    )
    sync_errors = 'darklaunch_rollout_sync_errors_total{instance="%s", job="darklaunch-proxy"}'
    cases = [
        # 10% of the cohort falls back: pending within the 5m ``for:``, then firing. The
        # incumbent's own requests (outside the cohort) are not in the share.
        _alert_case(
            fallbacks,
            _requests({"candidate": 90, "fallback": 10, "incumbent": 900}),
            {"4m": [], "10m": [high], end: [high]},
        ),
        # 2% falls back: under the threshold.
        _alert_case(fallbacks, _requests({"candidate": 98, "fallback": 2}), {end: []}),
        # Every cohort request falls back, but 5 in 5 minutes: under the minimum of 20.
        _alert_case(fallbacks, _requests({"candidate": 0, "fallback": 1}), {end: []}),
        # Dark: nobody in the cohort, only the incumbent's requests.
        _alert_case(fallbacks, _requests({"incumbent": 100}), {end: []}),
        # One proxy of two applies rolled_back from minute 5: fires at once, without labels
        # of its own (any proxy), and stays firing; none before.
        _alert_case(
            rolled_back,
            _phases("p1", f"0x4 1x{ROLLOUT_MINUTES - 4}") + _phases("p2", f"0x{ROLLOUT_MINUTES}"),
            {
                "4m": [],
                "5m": [_expected(rolled_back, {}, {})],
                end: [_expected(rolled_back, {}, {})],
            },
        ),
        # p1 fails every read (30 a minute) from the start; p2 never; p3 failed once, at
        # minute 6: only p1 fires, once its errors have lasted past the 5m ``for:``; p3's
        # one failure is pending for 2 minutes and never fires.
        _alert_case(
            stale,
            [
                {"series": sync_errors % "p1", "values": f"0+30x{ROLLOUT_MINUTES}"},
                {"series": sync_errors % "p2", "values": f"0x{ROLLOUT_MINUTES}"},
                {"series": sync_errors % "p3", "values": f"0x5 1x{ROLLOUT_MINUTES - 5}"},
            ],
            {"4m": [], "8m": [p1], "10m": [p1], end: [p1]},
        ),
    ]
    tests = {"rule_files": [str(ALERTS)], "evaluation_interval": "1m", "tests": cases}
    run_promtool_tests(promtool, tests, tmp_path / "rollout_alerts_test.yml")
