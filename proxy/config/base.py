"""What every config section shares: the frozen, typo-intolerant section base, the name and
URL rules several sections apply, the path type of every file and folder key, and
:class:`ConfigError`.

Sections are frozen (the config is validated once, then only read) and forbid extra keys, so
that a typo fails loudly instead of silently meaning "default".
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit, urlunsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationInfo

__all__ = [
    "CONFIG_DIR",
    "NAME_PATTERN",
    "SECRET_HEADER_WORDS",
    "ConfigError",
    "ConfigPath",
    "Section",
    "check_base_url",
]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}$"
"""Candidate and campaign names: they end up in Redis keys, metric labels and file names."""

SECRET_HEADER_WORDS = ("authorization", "api-key", "apikey", "cookie", "token", "secret")
"""A header whose name holds one of these carries a credential: its value is masked in the
config dump and may not be read into a recorded tag."""


class ConfigError(ValueError):
    """A config that cannot be used; ``problems`` holds one line per bad key."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"invalid config {source}:\n" + "\n".join(f"  {p}" for p in problems))


class Section(BaseModel):
    # Attribute docstrings become field descriptions, and so the config reference's meanings.
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


def check_base_url(value: str) -> str:
    """An upstream base URL without its trailing slash; the request path is appended to it."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("an http:// or https:// base URL with a host")
    if parts.query or parts.fragment:
        raise ValueError("a base URL without query or fragment")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


CONFIG_DIR = "config_dir"
"""Validation-context key holding the folder of the config file being read."""


def _resolve_path(value: Path, info: ValidationInfo) -> Path:
    """A relative path written in a config file means "beside this file", so one file works
    whatever the working directory of the process reading it: `serve` in a container's
    WORKDIR and `report` from a laptop both find `prices.file: prices.json` next to the config.
    Without a config file (``parse_config`` on a dict) there is no folder: the path is kept.
    Defaults are not validated, so a path left at its default stays under the working
    directory, which is where a process's own state belongs."""
    folder = info.context.get(CONFIG_DIR) if isinstance(info.context, dict) else None
    if folder is None or value.is_absolute():
        return value
    return Path(folder) / value


ConfigPath = Annotated[Path, AfterValidator(_resolve_path)]
"""The type of every file and folder key: relative paths resolve against the config's folder."""
