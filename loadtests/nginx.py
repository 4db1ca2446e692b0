"""nginx for the benchmark: the fast upstreams, and the ``mirror`` baseline to compare with.

Both run Debian's nginx as a child process, ``nginx -p <dir> -e <dir>/error.log -c <conf>
-g 'daemon off;'``, from a config generated into the run's temporary folder.

* **Upstreams** (:func:`upstream_conf`): one nginx with two listeners, the incumbent and the
  fast candidate, each answering every request with the same static chat completion
  (:data:`CHAT_RESPONSE`, about 600 bytes) from memory, so an upstream costs almost nothing.
* **Faulty candidates** (:func:`faulty_candidates_conf`): slow (the same answer after 200 ms,
  through the ``echo`` module), hanging (no answer for an hour) and failing (HTTP 500), so a
  faulty candidate costs the shared machine no CPU: the isolation measurements then show the
  proxy's isolation, not a candidate server's load on the load generator's core.
* **Mirror** (:func:`mirror_conf`): the neighbour darklaunch is measured against. Every request
  is proxied to the incumbent and copied by the ``mirror`` directive to the candidate, over
  keep-alive pools to both, with ``worker_processes`` equal to darklaunch's ``--workers``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

__all__ = [
    "CHAT_REQUEST",
    "CHAT_RESPONSE",
    "ECHO_MODULE",
    "MIRROR_READ_TIMEOUT_S",
    "SLOW_CANDIDATE_MS",
    "faulty_candidates_conf",
    "mirror_conf",
    "nginx_argv",
    "nginx_binary",
    "nginx_version",
    "upstream_conf",
]

_ANSWER = (
    "Connection reuse cuts latency because each new TCP and TLS handshake costs at least one "
    "round trip. Keep a pool of keep-alive connections per upstream, size it to the expected "
    "concurrency."
)
CHAT_RESPONSE: bytes = json.dumps(
    {
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "object": "chat.completion",
        "created": 1741569952,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": _ANSWER, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 41,
            "completion_tokens": 58,
            "total_tokens": 99,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
        "system_fingerprint": "fp_0ba0d124f1",
    },
    separators=(",", ":"),
).encode()
CHAT_REQUEST: bytes = json.dumps(
    {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are a concise assistant for backend engineers."},
            {"role": "user", "content": "How do I improve latency in my proxy server?"},
        ],
        "temperature": 0.2,
        "max_tokens": 256,
        "user": "bench-user-17",
    },
    separators=(",", ":"),
).encode()

# The mirror subrequest's read timeout, matched to darklaunch's default candidate
# first_byte_timeout_s, so both give up on a hanging candidate after the same time.
MIRROR_READ_TIMEOUT_S = 30

# Debian's libnginx-mod-http-echo: echo_sleep delays an answer without holding a worker.
ECHO_MODULE = Path("/usr/lib/nginx/modules/ngx_http_echo_module.so")
SLOW_CANDIDATE_MS = 200


def nginx_binary() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found is None:
        raise RuntimeError("nginx not found: apt-get install -y nginx (or make bench-deps)")
    return found


def nginx_version() -> str:
    done = subprocess.run(
        [nginx_binary(), "-v"], capture_output=True, text=True, timeout=10, check=False
    )
    return (done.stderr or done.stdout).strip().removeprefix("nginx version: ")


def nginx_argv(folder: Path, conf: Path) -> list[str]:
    return [
        nginx_binary(),
        "-p", str(folder),
        "-e", str(folder / "error.log"),
        "-c", str(conf),
        "-g", "daemon off;",
    ]  # fmt: skip


def _main(folder: Path, workers: int, http_body: str, modules: str = "") -> str:
    temp = folder / "temp"
    temp.mkdir(parents=True, exist_ok=True)
    return f"""{modules}
worker_processes {workers};
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
worker_rlimit_nofile 65536;
events {{ worker_connections 16384; multi_accept on; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    client_body_buffer_size 64k;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
{http_body}
}}
"""


def upstream_conf(folder: Path, ports: list[int], workers: int) -> Path:
    """Static chat-completion servers on ``ports`` (incumbent, fast candidate, ...)."""
    body = CHAT_RESPONSE.decode()
    if "'" in body or "$" in body:  # nginx would read them as quoting or variables
        raise ValueError("the static body must not contain ' or $")
    servers = "\n".join(
        f"""    server {{
        listen 127.0.0.1:{port} backlog=4096;
        default_type application/json;
        location / {{ return 200 '{body}'; }}
    }}"""
        for port in ports
    )
    conf = folder / "upstreams.conf"
    conf.write_text(_main(folder, workers, servers))
    return conf


def faulty_candidates_conf(folder: Path, slow: int, hang: int, error: int) -> Path:
    """Candidates that are slow, hang or fail, on the given ports; needs :data:`ECHO_MODULE`."""
    body = CHAT_RESPONSE.decode()
    error_body = '{"error":{"message":"candidate down","type":"server_error","code":null}}'
    servers = f"""    server {{
        listen 127.0.0.1:{slow} backlog=4096;
        default_type application/json;
        location / {{ echo_sleep {SLOW_CANDIDATE_MS / 1000:g}; echo '{body}'; }}
    }}
    server {{
        listen 127.0.0.1:{hang} backlog=4096;
        location / {{ echo_sleep 3600; echo ''; }}
    }}
    server {{
        listen 127.0.0.1:{error} backlog=4096;
        default_type application/json;
        location / {{ return 500 '{error_body}'; }}
    }}"""
    conf = folder / "faulty.conf"
    conf.write_text(_main(folder, 1, servers, f"load_module {ECHO_MODULE};"))
    return conf


def mirror_conf(
    folder: Path, listen_port: int, incumbent_port: int, candidate_port: int, workers: int
) -> Path:
    """nginx as a shadow proxy: proxy to the incumbent, ``mirror`` to the candidate."""
    server = f"""    upstream incumbent {{
        server 127.0.0.1:{incumbent_port};
        keepalive 256;
        keepalive_requests 1000000;
    }}
    upstream candidate {{
        server 127.0.0.1:{candidate_port};
        keepalive 256;
        keepalive_requests 1000000;
    }}
    server {{
        listen 127.0.0.1:{listen_port} backlog=4096 reuseport;
        location / {{
            mirror /_mirror;
            mirror_request_body on;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://incumbent;
        }}
        location = /_mirror {{
            internal;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_connect_timeout 10s;
            proxy_read_timeout {MIRROR_READ_TIMEOUT_S}s;
            proxy_pass http://candidate$request_uri;
        }}
    }}"""
    conf = folder / "mirror.conf"
    conf.write_text(_main(folder, workers, server))
    return conf
