"""Reading a config: YAML, ``${VAR}`` expansion, validation, and error messages that name the
key path, the bad value and what was expected. Relative paths in a config file resolve against
the file's folder (:data:`~proxy.config.base.ConfigPath`).

Every problem surfaces as one :class:`~proxy.config.base.ConfigError` listing them all.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from proxy.config.base import CONFIG_DIR, ConfigError
from proxy.config.root import Config

__all__ = ["load_config", "parse_config"]

_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


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
    data: Any,
    *,
    source: str = "<config>",
    env: dict[str, str] | None = None,
    config_dir: Path | None = None,
) -> Config:
    """Validate already-parsed YAML; the seam tests use to skip the file system.

    ``config_dir`` is the folder relative paths resolve against; ``None`` keeps them relative
    (to the working directory), as for a config built in code.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(source, [f"<root>: got {type(data).__name__}; expected a mapping"])
    problems: list[str] = []
    expanded = _expand_env(data, "", dict(os.environ) if env is None else env, problems)
    try:
        context = {CONFIG_DIR: config_dir} if config_dir is not None else None
        config = Config.model_validate(expanded, context=context)
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
    """Read, expand and validate a YAML config file; its relative paths resolve against its
    folder (made absolute as given, symlinks not followed), so the result does not depend on
    the working directory."""
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
    return parse_config(data, source=source, env=env, config_dir=Path(os.path.abspath(path)).parent)
