"""``darklaunch serve --workers N``: N proxy processes sharing the listening ports.

Each worker binds the public and admin ports with ``SO_REUSEPORT``, so the kernel spreads
connections across them and there is no acceptor process in the way. Metrics stay correct
across processes through prometheus-client's multiprocess mode: every worker writes its
samples to files under one directory, and whichever worker answers ``/metrics`` aggregates
them all. The supervisor starts the embedded Redis once (when no ``redis_url`` is set) so the
workers share it, gives each worker its own spool file, forwards SIGTERM and SIGINT, and
restarts a worker that dies unexpectedly. A worker that exits 2 (it cannot start: a port is
taken) is not restarted: all stop and the supervisor exits 2.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

from proxy.config.root import Config
from proxy.recording.embedded_redis import EmbeddedRedis
from proxy.terminal import EXIT_USAGE

logger = logging.getLogger(__name__)

__all__ = ["WORKER_INDEX_ENV", "serve_workers"]

WORKER_INDEX_ENV = "DARKLAUNCH_WORKER_INDEX"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
RESTART_LIMIT = 10


def _spawn(
    config_path: Path, index: int, env: dict[str, str], extra: list[str]
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "proxy", "serve", "--config", str(config_path), *extra],
        env={**env, WORKER_INDEX_ENV: str(index)},
    )


def serve_workers(config: Config, config_path: Path, workers: int, extra_args: list[str]) -> int:
    """Run ``workers`` proxy processes until SIGTERM/SIGINT; returns the exit code."""
    metrics_dir = tempfile.mkdtemp(prefix="darklaunch-metrics-")
    env = {**os.environ, MULTIPROC_ENV: metrics_dir}
    embedded = None
    if config.recording.redis_url is None:
        embedded = EmbeddedRedis(config.recording.data_dir)
        embedded.start()  # workers find it answering on its socket and share it
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signum)

    children = {i: _spawn(config_path, i, env, extra_args) for i in range(workers)}
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    restarts = 0
    code = 0
    try:
        while children:
            for index, child in list(children.items()):
                status = child.poll()
                if status is None:
                    continue
                del children[index]
                _mark_dead(child.pid, metrics_dir)
                if stopping:
                    code = code or status
                elif status == EXIT_USAGE:
                    # It said why on stderr (a port taken, a bad value): a restart would only
                    # say it again, so every worker stops and the supervisor exits the same way.
                    logger.error("worker %d exited with %d; stopping all workers", index, status)
                    stop(signal.SIGTERM, None)
                    code = EXIT_USAGE
                elif restarts < RESTART_LIMIT:
                    restarts += 1
                    logger.error(
                        "worker %d (pid %d) exited with %s; restarting", index, child.pid, status
                    )
                    children[index] = _spawn(config_path, index, env, extra_args)
                else:
                    logger.error("worker %d keeps dying; stopping all workers", index)
                    stop(signal.SIGTERM, None)
                    code = 1
            time.sleep(0.1)
    finally:
        if embedded is not None:
            embedded.stop()
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return code


def _mark_dead(pid: int, metrics_dir: str) -> None:
    """Drop a dead worker's live gauges (in flight, queue depth) from the aggregate."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, metrics_dir)  # type: ignore[no-untyped-call]
