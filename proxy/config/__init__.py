"""darklaunch configuration: one frozen pydantic tree, validated once before any socket is bound.

The key names under ``listen``, ``admin``, ``incumbent``, ``candidates`` and ``mirror`` are a
contract with users' config files: add keys, never rename them. Unknown keys are errors so that
a typo fails loudly instead of silently meaning "default".

Loading is :func:`load_config`; every problem surfaces as one :class:`ConfigError` whose message
names the key path, the bad value and what was expected.

This module is the package's public surface; the models live in one module per concern:

    base        the section base, shared rules, ConfigError
    listeners   listen, admin
    upstreams   incumbent, candidates (with their pool and breaker)
    fallback    fallback (with its static response)
    mirror      mirror
    recording   recording (with redact): written by the data plane, read by the analysis plane
    analysis    budgets, prices, worker, comparator options: the analysis plane's contract
    root        Config, the whole file
    loading     YAML, ${VAR} expansion, error messages: parse_config, load_config
    masking     masked_dump
    reference   the generated docs/config.md (imported on demand, not from here)

Exceptions::

    ConfigError            (ValueError)  bad YAML, bad value, unknown key, missing ${VAR}
"""

from __future__ import annotations

from proxy.config.analysis import (
    BudgetRule,
    BudgetsConfig,
    PricesConfig,
    WorkerConfig,
    WorkerMetricsConfig,
)
from proxy.config.base import ConfigError
from proxy.config.fallback import FallbackConfig, StaticResponseConfig
from proxy.config.listeners import AdminConfig, ListenConfig
from proxy.config.loading import load_config, parse_config
from proxy.config.masking import masked_dump
from proxy.config.mirror import DEFAULT_ROUTES, MirrorConfig
from proxy.config.recording import RecordingConfig, RedactConfig
from proxy.config.root import Config
from proxy.config.upstreams import BreakerConfig, CandidateConfig, IncumbentConfig, PoolConfig

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
    "WorkerMetricsConfig",
    "load_config",
    "masked_dump",
    "parse_config",
]
