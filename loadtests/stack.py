"""Start the systems under test as real processes: nginx upstreams, nginx mirror,
``darklaunch serve --workers N``, simulated candidates, the SSE upstream.

A :class:`Layout` says where things run. Pinned (one worker each): the proxy under test gets
CPU 1 to itself and everything else (load generator, upstreams, candidates, Redis) shares
CPU 0. Floating (two workers each): nothing is pinned, so the load generator competes with the
proxy for both cores, as it would on any two-core box.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import yaml
from prometheus_client.parser import text_string_to_metric_families

from loadtests.nginx import (
    ECHO_MODULE,
    faulty_candidates_conf,
    mirror_conf,
    nginx_argv,
    upstream_conf,
)
from loadtests.processes import (
    Child,
    ChildFailed,
    Children,
    children_of,
    free_ports,
    http_get,
    wait_http,
    wait_port,
)

__all__ = [
    "SIMULATED_FAULTS",
    "Layout",
    "Running",
    "Stack",
    "darklaunch_argv",
    "darklaunch_counters",
    "stream_length",
]

CHAT_PATH = "/v1/chat/completions"

# Candidate failure modes as simulator profiles, for when nginx's echo module is missing.
SIMULATED_FAULTS: dict[str, dict[str, Any]] = {
    "slow": {"latency_ms": 200},
    "hang": {"mode": "hang"},
    "error": {"mode": "error"},
}


@dataclass(frozen=True)
class Layout:
    pinned: bool
    load_cpus: frozenset[int] | None
    proxy_cpus: frozenset[int] | None

    @classmethod
    def for_workers(cls, workers: int, cpus: int) -> Layout:
        if workers == 1 and cpus >= 2:
            return cls(True, frozenset({0}), frozenset({1}))
        return cls(False, None, None)


@dataclass
class Running:
    """A started server: where to send requests, and which pids do its work."""

    name: str
    base_url: str
    child: Child
    pids: list[int] = field(default_factory=list)
    admin_url: str | None = None

    @property
    def url(self) -> str:
        return self.base_url + CHAT_PATH


def darklaunch_argv() -> list[str]:
    script = Path(sys.executable).parent / "darklaunch"
    if script.exists():
        return [str(script)]
    found = shutil.which("darklaunch")
    return [found] if found else [sys.executable, "-m", "proxy"]


class Stack:
    def __init__(self, kids: Children, folder: Path, layout: Layout) -> None:
        self.kids = kids
        self.folder = folder
        self.layout = layout

    def _dir(self, name: str) -> Path:
        path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.folder))
        path.chmod(0o755)
        return path

    def upstreams(self, workers: int) -> tuple[Running, Running]:
        """The incumbent and the fast candidate: static answers from one nginx."""
        folder = self._dir("upstreams")
        incumbent, candidate = free_ports(2)
        conf = upstream_conf(folder, [incumbent, candidate], workers)
        child = self.kids.start(
            "nginx-upstreams", nginx_argv(folder, conf), cpus=self.layout.load_cpus
        )
        wait_port(incumbent, child)
        wait_port(candidate, child)
        return (
            Running("incumbent", f"http://127.0.0.1:{incumbent}", child),
            Running("candidate", f"http://127.0.0.1:{candidate}", child),
        )

    def nginx_mirror(self, incumbent: str, candidate: str, workers: int) -> Running:
        folder = self._dir("nginx-mirror")
        (port,) = free_ports(1)
        conf = mirror_conf(folder, port, _port(incumbent), _port(candidate), workers)
        child = self.kids.start(
            "nginx-mirror", nginx_argv(folder, conf), cpus=self.layout.proxy_cpus
        )
        wait_port(port, child)
        worker_pids: list[int] = []
        for _ in range(100):  # the master binds before it forks its workers
            worker_pids = children_of(child.pid)
            if len(worker_pids) >= workers:
                break
            time.sleep(0.05)
        return Running("nginx-mirror", f"http://127.0.0.1:{port}", child, [child.pid, *worker_pids])

    def darklaunch(
        self,
        incumbent: str,
        candidate: str,
        *,
        workers: int,
        sample_rate: float,
        redis_url: str,
        campaign: str,
        candidate_extra: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
    ) -> Running:
        folder = self._dir(f"darklaunch-{campaign}")
        port, admin = free_ports(2)
        config = {
            "listen": {"host": "127.0.0.1", "port": port},
            "admin": {"host": "127.0.0.1", "port": admin},
            "incumbent": {"url": incumbent},
            "candidates": [{"name": "cand", "url": candidate, **(candidate_extra or {})}],
            "mirror": {"sample_rate": sample_rate},
            "recording": {
                "redis_url": redis_url,
                "campaign": campaign,
                "spool_dir": str(folder / "spool"),
                "data_dir": str(folder / "redis"),
            },
        }
        path = folder / "darklaunch.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        argv = [*darklaunch_argv(), "serve", "--config", str(path), "--workers", str(workers)]
        child = self.kids.start(
            f"darklaunch-{campaign}", argv, cpus=self.layout.proxy_cpus, env=env
        )
        admin_url = f"http://127.0.0.1:{admin}"
        seen: set[int] = set()
        deadline = time.monotonic() + 30.0
        while len(seen) < workers and time.monotonic() < deadline:
            # Every worker answers /healthz with its pid; SO_REUSEPORT spreads the polls.
            seen.add(int(json.loads(wait_http(admin_url + "/healthz", child))["pid"]))
            time.sleep(0.02)
        if len(seen) < workers:
            raise ChildFailed(f"only {len(seen)} of {workers} darklaunch workers answered")
        wait_port(port, child)
        return Running("darklaunch", f"http://127.0.0.1:{port}", child, sorted(seen), admin_url)

    def floor(self, incumbent: str, candidate: str | None) -> Running:
        """The bare relay on darklaunch's HTTP layer (``loadtests.floor``), with a mirror if
        ``candidate``."""
        (port,) = free_ports(1)
        argv = [
            sys.executable,
            "-m",
            "loadtests.floor",
            "--port",
            str(port),
            "--incumbent",
            incumbent,
        ]
        if candidate is not None:
            argv += ["--candidate", candidate]
        name = "bare_mirror" if candidate else "bare_relay"
        child = self.kids.start(name, argv, cpus=self.layout.proxy_cpus)
        wait_port(port, child)
        return Running(name, f"http://127.0.0.1:{port}", child, [child.pid])

    def simulator(self, name: str, profile: dict[str, Any]) -> Running:
        (port,) = free_ports(1)
        argv = [
            sys.executable, "-m", "proxy.sim.server", "--port", str(port),
            "--profile", json.dumps({"name": name, **profile}),
        ]  # fmt: skip
        child = self.kids.start(f"sim-{name}", argv, cpus=self.layout.load_cpus)
        wait_port(port, child)
        return Running(f"sim-{name}", f"http://127.0.0.1:{port}", child, [child.pid])

    def faulty_candidates(self) -> dict[str, Running]:
        """Slow, hanging and failing candidates: nginx with the echo module when Debian's
        ``libnginx-mod-http-echo`` is installed (they cost no CPU), else the simulator."""
        if not ECHO_MODULE.exists():
            return {
                mode: self.simulator(mode, profile) for mode, profile in SIMULATED_FAULTS.items()
            }
        folder = self._dir("faulty")
        slow, hang, error = free_ports(3)
        conf = faulty_candidates_conf(folder, slow, hang, error)
        child = self.kids.start(
            "nginx-faulty", nginx_argv(folder, conf), cpus=self.layout.load_cpus
        )
        for port in (slow, hang, error):
            wait_port(port, child)
        return {
            mode: Running(f"nginx-{mode}", f"http://127.0.0.1:{port}", child)
            for mode, port in (("slow", slow), ("hang", hang), ("error", error))
        }

    def sse_server(self, events: int, interval_ms: float, first_ms: float) -> Running:
        (port,) = free_ports(1)
        argv = [
            sys.executable, "-m", "loadtests.streaming", "serve", "--port", str(port),
            "--events", str(events), "--interval-ms", f"{interval_ms:g}",
            "--first-ms", f"{first_ms:g}",
        ]  # fmt: skip
        child = self.kids.start("sse-upstream", argv, cpus=self.layout.load_cpus)
        wait_port(port, child)
        return Running("sse-upstream", f"http://127.0.0.1:{port}", child, [child.pid])


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


def darklaunch_counters(admin_url: str) -> dict[str, Any]:
    """What darklaunch says it did: sampling decisions, skipped mirrors by reason, candidate
    errors by kind, records written and dropped (summed over every worker)."""
    status, body = http_get(admin_url + "/metrics", timeout_s=5.0)
    if status != 200:
        return {"error": f"/metrics answered {status}"}
    out: dict[str, Any] = {
        "incumbent_requests": 0.0,
        "sampled": 0.0,
        "not_sampled": 0.0,
        "skipped": {},
        "candidate_errors": {},
        "records_written": 0.0,
        "records_dropped": {},
    }
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, sample.value
            if name == "darklaunch_requests_total" and labels.get("role") == "incumbent":
                out["incumbent_requests"] += value
            elif name == "darklaunch_mirror_decisions_total":
                out[labels["decision"]] += value
            elif name == "darklaunch_mirror_skipped_total" and value:
                out["skipped"][labels["reason"]] = value
            elif name == "darklaunch_candidate_errors_total" and value:
                out["candidate_errors"][labels["kind"]] = value
            elif name == "darklaunch_records_written_total":
                out["records_written"] += value
            elif name == "darklaunch_records_dropped_total" and value:
                out["records_dropped"][labels["reason"]] = value
    return out


def stream_length(redis_url: str, campaign: str, *, delete: bool = False) -> int:
    """XLEN of the campaign's pairs stream; ``delete`` then drops it, so that Redis (on the
    load generator's core) stays small and never rewrites a large append-only file mid-run."""
    client = redis.Redis.from_url(redis_url)
    key = f"darklaunch:{{{campaign}}}:pairs"
    try:
        length = int(client.xlen(key))
        if delete:
            client.delete(key)
        return length
    finally:
        client.close()
