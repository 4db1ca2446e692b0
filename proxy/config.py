"""darklaunch configuration: one frozen pydantic tree, validated once before any socket is bound.

The key names under ``listen``, ``admin``, ``incumbent``, ``candidates`` and ``mirror`` are a
contract with users' config files: add keys, never rename them. Unknown keys are errors so that
a typo fails loudly instead of silently meaning "default".

Loading is :func:`load_config`; every problem surfaces as one :class:`ConfigError` whose message
names the key path, the bad value and what was expected.

Exceptions::

    ConfigError            (ValueError)  bad YAML, bad value, unknown key, missing ${VAR}
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

__all__ = [
    "DEFAULT_ROUTES",
    "AdminConfig",
    "BreakerConfig",
    "BudgetRule",
    "BudgetsConfig",
    "CandidateConfig",
    "Config",
    "ConfigError",
    "FallbackConfig",
    "IncumbentConfig",
    "ListenConfig",
    "MirrorConfig",
    "PoolConfig",
    "PricesConfig",
    "RecordingConfig",
    "RedactConfig",
    "StaticResponseConfig",
    "WorkerConfig",
    "load_config",
    "masked_dump",
    "parse_config",
]

DEFAULT_ROUTES = ("/v1/chat/completions", "/v1/completions", "/v1/responses", "/v1/embeddings")
_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}$"
SECRET_HEADER_WORDS = ("authorization", "api-key", "apikey", "cookie", "token", "secret")
SECRET_KEYS = frozenset({"token", "password", "api_key", "secret"})
MASK = "***"


class ConfigError(ValueError):
    """A config that cannot be used; ``problems`` holds one line per bad key."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"invalid config {source}:\n" + "\n".join(f"  {p}" for p in problems))


class _Section(BaseModel):
    # Attribute docstrings become field descriptions, and so the config reference's meanings.
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class ListenConfig(_Section):
    """The public listener clients point their base URL at.

    ``listen: {host: 0.0.0.0, port: 8080, max_body_bytes: 10485760}``
    """

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    """Largest request body accepted; larger ones get 413 request_too_large."""
    header_read_timeout_s: float = Field(default=30.0, gt=0)
    """A request's headers must arrive within this time of their first byte, or 408."""
    body_read_timeout_s: float = Field(default=60.0, gt=0)
    """A request's body must arrive within this time, or 408."""
    keepalive_timeout_s: float = Field(default=75.0, gt=0)
    """An idle client connection is closed after this long."""
    send_timeout_s: float = Field(default=60.0, gt=0)
    """A client that reads nothing of its answer for this long, while darklaunch has bytes
    waiting for it, is disconnected: it would otherwise hold its answer's buffers forever."""


class AdminConfig(_Section):
    """Metrics, health and the admin API, on their own port: never the public one.

    ``admin: {host: 127.0.0.1, port: 9090, token: "${DARKLAUNCH_ADMIN_TOKEN}"}``
    """

    host: str = "127.0.0.1"
    port: int = Field(default=9090, ge=0, le=65535)
    token: SecretStr | None = None
    """Bearer token for the admin API; without one the admin API answers 403."""


class PoolConfig(_Section):
    """Keep-alive connection pool for one upstream.

    ``pool: {max_connections: 256, keepalive_timeout_s: 30}``
    """

    max_connections: int = Field(default=256, ge=1)
    """Connections open at most; calls beyond wait, in order, within their own deadline."""
    keepalive_timeout_s: float = Field(default=30.0, gt=0)
    """An idle pooled connection is closed after this long."""
    connect_timeout_s: float = Field(default=10.0, gt=0)
    """Time to open a connection, TLS included; passing it counts as a timeout."""


def _base_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("an http:// or https:// base URL with a host")
    if parts.query or parts.fragment:
        raise ValueError("a base URL without query or fragment")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


class _UpstreamConfig(_Section):
    url: str
    """Base URL; the request path is appended."""
    timeout_s: float = Field(default=600.0, gt=0)
    """Total time for one call."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Set or override on the way upstream."""
    version: str | None = None
    """Prompt or model version label, written into records."""
    verify_tls: bool = True
    """Verify the upstream's certificate."""
    ca_bundle: Path | None = None
    """PEM bundle to verify the upstream's certificate with."""
    pool: PoolConfig = Field(default_factory=PoolConfig)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return _base_url(value)

    @field_validator("ca_bundle")
    @classmethod
    def _check_ca_bundle(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError("an existing CA bundle file (PEM)")
        return value


class IncumbentConfig(_UpstreamConfig):
    """The model clients are served by; its answer is relayed byte for byte.

    ``incumbent: {url: https://api.openai.com, timeout_s: 600}``
    """


class StaticResponseConfig(_Section):
    """A fixed answer for when neither the incumbent nor a fallback upstream can answer.

    ``static: {status: 503, body: {error: {message: "try again", type: server_error}}}``
    """

    status: int = Field(default=503, ge=200, le=599)
    body: Any = Field(
        default_factory=lambda: {
            "error": {
                "message": "the model is unavailable; try again shortly",
                "type": "server_error",
                "param": None,
                "code": "model_unavailable",
            }
        }
    )
    headers: dict[str, str] = Field(default_factory=dict)


class FallbackConfig(_Section):
    """Where clients are served from when the incumbent refuses, times out or answers with
    one of ``on_status``: a ``url`` upstream, else the ``static`` response.

    ``fallback: {url: http://backup:8000, on_status: [500, 502, 503, 504]}``
    ``fallback: {static: {status: 503}}``
    """

    url: str | None = None
    on_status: list[int] = Field(default_factory=lambda: [500, 502, 503, 504])
    timeout_s: float = Field(default=600.0, gt=0)
    headers: dict[str, str] = Field(default_factory=dict)
    verify_tls: bool = True
    ca_bundle: Path | None = None
    pool: PoolConfig = Field(default_factory=PoolConfig)
    static: StaticResponseConfig | None = None

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        return None if value is None else _base_url(value)

    @field_validator("on_status")
    @classmethod
    def _check_statuses(cls, value: list[int]) -> list[int]:
        for status in value:
            if not 400 <= status <= 599:
                raise ValueError(f"HTTP error statuses between 400 and 599, got {status}")
        return value

    @model_validator(mode="after")
    def _needs_a_target(self) -> FallbackConfig:
        if self.url is None and self.static is None:
            raise ValueError("a 'url' or a 'static' response")
        return self


class BreakerConfig(_Section):
    """Pause mirroring to a candidate after repeated failures, then probe it again.

    ``breaker: {failure_threshold: 5, reset_after_s: 30}``
    """

    failure_threshold: int = Field(default=5, ge=1)
    reset_after_s: float = Field(default=30.0, gt=0)


class CandidateConfig(_UpstreamConfig):
    """A model under evaluation. Its answers are recorded and never shown to a client.

    ``- {name: cand-a, url: http://10.0.0.5:8000, model: my-model-v2, max_inflight: 64}``
    """

    name: str = Field(pattern=_NAME_PATTERN)
    """Label used in records and metrics."""
    model: str | None = None
    """Rewrites `model` in the mirrored JSON body."""
    body_overrides: dict[str, Any] = Field(default_factory=dict)
    """Deep-merged into the mirrored JSON body."""
    timeout_s: float = Field(default=120.0, gt=0)
    """Total time a mirror call may take."""
    first_byte_timeout_s: float = Field(default=30.0, gt=0)
    """Time to the first body byte (first token) of a mirror call."""
    max_inflight: int = Field(default=64, ge=1)
    """Concurrent mirror calls; beyond it mirrors are skipped (reason max_inflight)."""
    forward_authorization: bool = False
    """Send the client's Authorization/cookies/API-key headers to this candidate."""
    stream_usage: bool = True
    """Ask streamed chat/completions for a usage chunk (nobody sees the candidate's stream)."""
    breaker: BreakerConfig = Field(default_factory=BreakerConfig)


class MirrorConfig(_Section):
    """Which requests are mirrored to the candidates.

    ``mirror: {sample_rate: 0.05, sample_key: "header:x-user-id"}``
    """

    sample_rate: float = Field(default=0.05, ge=0.0, le=1.0)
    """Share of requests on mirrored routes sent to the candidates."""
    sample_key: str = "random"
    """`random`, `header:<name>` or `json:<field>`: a stable hash keeps a key in or out."""
    routes: list[str] = Field(default_factory=lambda: list(DEFAULT_ROUTES))
    """Paths that are mirrored (exact match, without the query string)."""
    paused: bool = False
    """Start with mirroring paused (the admin API can resume it)."""
    # Share of sampled requests sent to the incumbent a second time (role "replica"), so the
    # comparators can measure the incumbent's own nondeterminism: the noise floor.
    noise_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    replica_max_inflight: int = Field(default=32, ge=1)

    @field_validator("sample_key")
    @classmethod
    def _check_sample_key(cls, value: str) -> str:
        kind, _, arg = value.partition(":")
        if value == "random" or (kind in ("header", "json") and arg):
            return value
        raise ValueError("'random', 'header:<name>' or 'json:<field>'")

    @field_validator("routes")
    @classmethod
    def _check_routes(cls, value: list[str]) -> list[str]:
        for route in value:
            if not route.startswith("/"):
                raise ValueError(f"paths starting with '/', got {route!r}")
        return value


BuiltinPattern = Literal["email", "phone", "card", "api_key", "bearer"]
_ALL_BUILTINS: tuple[BuiltinPattern, ...] = ("email", "phone", "card", "api_key", "bearer")


class RedactConfig(_Section):
    """What is masked before a record leaves the process.

    ``redact: {patterns: {employee_id: "EMP-[0-9]{6}"}, drop_paths: [metadata.user_email]}``
    """

    enabled: bool = True
    builtins: list[BuiltinPattern] = Field(default_factory=lambda: list(_ALL_BUILTINS))
    patterns: dict[str, str] = Field(default_factory=dict)
    drop_paths: list[str] = Field(default_factory=list)

    @field_validator("patterns")
    @classmethod
    def _check_patterns(cls, value: dict[str, str]) -> dict[str, str]:
        for name, pattern in value.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"valid regular expressions; {name!r} fails: {exc}") from exc
        return value


class RecordingConfig(_Section):
    """Where paired records go and what they keep.

    ``recording: {campaign: gpt5-vs-mini}`` records to an embedded Redis under ``data_dir``;
    ``recording: {redis_url: "redis://redis:6379/0", campaign: gpt5-vs-mini}`` to a real one.
    """

    redis_url: str | None = None
    """Redis to record to; unset starts an embedded Redis under `data_dir`."""
    campaign: str = Field(default="default", pattern=_NAME_PATTERN)
    """Names the streams `darklaunch:{<campaign>}:pairs` and `:scores`."""
    max_len: int = Field(default=1_000_000, ge=1)
    """Approximate cap on the pairs stream (`XADD MAXLEN ~`)."""
    retention_h: float | None = Field(default=None, gt=0)
    """Age limit on the pairs stream (`XTRIM MINID`)."""
    data_dir: Path = Path(".darklaunch/redis")
    """Where the embedded Redis keeps its data."""
    spool_dir: Path = Path(".darklaunch/spool")
    """Where records wait on disk while Redis is away."""
    spool_max_bytes: int = Field(default=1 << 30, gt=0)
    """Spool size cap; beyond it records are dropped (reason spool_full)."""
    queue_size: int = Field(default=10_000, ge=1)
    """In-memory queue before the writer; beyond it records are dropped (queue_full)."""
    batch_size: int = Field(default=256, ge=1)
    """Records per Redis write."""
    flush_timeout_s: float = Field(default=30.0, gt=0)
    """How long shutdown waits to flush; what is left stays in the spool."""
    max_body_bytes: int = Field(default=256 * 1024, gt=0)
    """Request bodies longer than this are truncated in the record."""
    max_output_bytes: int = Field(default=1024 * 1024, gt=0)
    """Each answer is kept up to this size for the record."""
    stream_usage: Literal["off", "inject"] = "off"
    """`inject` asks the incumbent for stream usage and hides it from clients that did not."""
    redact: RedactConfig = Field(default_factory=RedactConfig)

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("a redis://, rediss:// or unix:// URL")
        return value


class BudgetRule(_Section):
    """Budgets for the requests of one route and/or model; the most specific rule wins.

    ``- {route: /v1/embeddings, latency_ms: 300}`` or ``- {model: gpt-4o, cost_usd: 0.02}``
    """

    route: str | None = None
    model: str | None = None
    latency_ms: float | None = Field(default=None, gt=0)
    ttft_ms: float | None = Field(default=None, gt=0)
    cost_usd: float | None = Field(default=None, gt=0)


class BudgetsConfig(_Section):
    """Per-query budgets a candidate's answer is held to; unset means "no budget".

    ``budgets: {latency_ms: 2000, ttft_ms: 500, cost_usd: 0.01, overrides: [...]}``
    """

    latency_ms: float | None = Field(default=None, gt=0)
    ttft_ms: float | None = Field(default=None, gt=0)
    cost_usd: float | None = Field(default=None, gt=0)
    overrides: list[BudgetRule] = Field(default_factory=list)


class PricesConfig(_Section):
    """Price table in the layout of LiteLLM's ``model_prices_and_context_window.json``.

    ``prices: {file: config/prices.json, models: {my-model: {input_cost_per_token: 1e-7}}}``
    """

    file: Path | None = None
    models: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("file")
    @classmethod
    def _check_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError("an existing JSON price table file")
        return value


class WorkerMetricsConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=9091, ge=0, le=65535)


class WorkerConfig(_Section):
    """The comparator worker: one consumer of the ``comparators`` group.

    ``worker: {consumer: worker-1, batch_size: 64, claim_idle_s: 60}``
    """

    consumer: str | None = None
    batch_size: int = Field(default=64, ge=1)
    block_ms: int = Field(default=1000, ge=1)
    claim_idle_s: float = Field(default=60.0, gt=0)
    metrics: WorkerMetricsConfig = Field(default_factory=WorkerMetricsConfig)


class Config(_Section):
    """The root of a darklaunch config file."""

    listen: ListenConfig = Field(default_factory=ListenConfig)
    admin: AdminConfig = Field(default_factory=AdminConfig)
    incumbent: IncumbentConfig
    fallback: FallbackConfig | None = None
    candidates: list[CandidateConfig] = Field(default_factory=list)
    mirror: MirrorConfig = Field(default_factory=MirrorConfig)
    recording: RecordingConfig = Field(default_factory=RecordingConfig)
    # Comparator name -> its options; ``None`` runs every built-in with its defaults.
    comparators: dict[str, dict[str, Any]] | None = None
    budgets: BudgetsConfig = Field(default_factory=BudgetsConfig)
    prices: PricesConfig = Field(default_factory=PricesConfig)
    worker: WorkerConfig = Field(default_factory=WorkerConfig)

    @field_validator("candidates")
    @classmethod
    def _unique_names(cls, value: list[CandidateConfig]) -> list[CandidateConfig]:
        seen: set[str] = set()
        for candidate in value:
            if candidate.name in seen:
                raise ValueError(f"unique candidate names, {candidate.name!r} repeats")
            seen.add(candidate.name)
        return value


def _expand_env(
    node: Any,
    path: str,
    env: dict[str, str],
    problems: list[str],
    active: frozenset[int] = frozenset(),
) -> Any:
    """Expand ``${VAR}`` and ``${VAR:-default}`` in string values, after YAML parsing, so a
    variable's content can never inject YAML structure. ``active`` holds the containers on the
    current path: a YAML alias that refers to its own ancestor would otherwise recurse forever."""
    if isinstance(node, dict | list):
        if id(node) in active:
            problems.append(f"{path or '<root>'}: a YAML alias refers to itself; expected a tree")
            return None
        active = active | {id(node)}
    if isinstance(node, dict):
        return {
            k: _expand_env(v, f"{path}.{k}" if path else str(k), env, problems, active)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_expand_env(v, f"{path}[{i}]", env, problems, active) for i, v in enumerate(node)]
    if not isinstance(node, str) or "${" not in node:
        return node

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        problems.append(f"{path}: environment variable ${{{name}}} is not set; expected it set")
        return ""

    return _ENV_PATTERN.sub(substitute, node)


def _format_loc(loc: tuple[int | str, ...], data: Any) -> tuple[str, str]:
    """Render a pydantic error location as ``candidates[0].url`` and fetch the bad value, so
    the message shows what the user actually wrote."""
    parts: list[str] = []
    node: Any = data
    for item in loc:
        parts.append(f"[{item}]" if isinstance(item, int) else (f".{item}" if parts else item))
        node = _child(node, item)
    return "".join(parts) or "<root>", repr(node)


def _child(node: Any, item: int | str) -> Any:
    if isinstance(node, dict):
        return node.get(item)
    if isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node):
        return node[item]
    return None


def _expectation(message: str) -> str:
    for prefix in ("Value error, ", "Input should be "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message[:1].lower() + message[1:]


def _known_keys(loc: tuple[int | str, ...]) -> list[str]:
    """The keys a section accepts, found by walking the model tree along an error location."""
    model: type[BaseModel] = Config
    for item in loc:
        if isinstance(item, int):
            continue
        field = model.model_fields.get(item)
        annotation = field.annotation if field is not None else None
        inner = getattr(annotation, "__args__", (annotation,))
        nested = [t for t in inner if isinstance(t, type) and issubclass(t, BaseModel)]
        if not nested:
            return []
        model = nested[0]
    return list(model.model_fields)


def parse_config(
    data: Any, *, source: str = "<config>", env: dict[str, str] | None = None
) -> Config:
    """Validate already-parsed YAML; the seam tests use to skip the file system."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(source, [f"<root>: got {type(data).__name__}; expected a mapping"])
    problems: list[str] = []
    expanded = _expand_env(data, "", dict(os.environ) if env is None else env, problems)
    try:
        config = Config.model_validate(expanded)
    except ValidationError as exc:
        for error in exc.errors():
            where, value = _format_loc(error["loc"], expanded)
            if error["type"] == "extra_forbidden":
                known = ", ".join(_known_keys(error["loc"][:-1]))
                problems.append(f"{where}: unknown key; expected one of: {known}")
            elif error["type"] == "missing":
                problems.append(f"{where}: missing; expected a value")
            else:
                problems.append(f"{where}: got {value}; expected {_expectation(error['msg'])}")
        raise ConfigError(source, problems) from exc
    if problems:
        raise ConfigError(source, problems)
    return config


def load_config(path: str | Path, *, env: dict[str, str] | None = None) -> Config:
    """Read, expand and validate a YAML config file."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            source, [f"<file>: cannot read ({exc.strerror}); expected a readable file"]
        ) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(source, [f"<yaml>: {exc}; expected valid YAML"]) from exc
    return parse_config(data, source=source, env=env)


def _is_secret_header(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in SECRET_HEADER_WORDS)


def _mask_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:{MASK}@{parts.hostname}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _mask(node: Any, key: str = "", in_headers: bool = False) -> Any:
    if isinstance(node, dict):
        return {k: _mask(v, str(k), in_headers=key == "headers") for k, v in node.items()}
    if isinstance(node, list):
        return [_mask(v, key) for v in node]
    if isinstance(node, str):
        if (in_headers and _is_secret_header(key)) or key in SECRET_KEYS:
            return MASK
        if "://" in node:
            return _mask_url(node)
    return node


def masked_dump(config: Config) -> dict[str, Any]:
    """The effective config as plain data with every secret replaced by ``***``: header
    values whose names look secret, tokens and passwords inside URLs."""
    data = config.model_dump(mode="json")
    token = config.admin.token
    data["admin"]["token"] = MASK if token is not None else None
    masked: dict[str, Any] = _mask(data)
    return masked
