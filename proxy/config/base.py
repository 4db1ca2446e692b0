"""What every config section shares: the frozen, typo-intolerant section base, the name and
URL rules several sections apply, and :class:`ConfigError`.

Sections are frozen (the config is validated once, then only read) and forbid extra keys, so
that a typo fails loudly instead of silently meaning "default".
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict

__all__ = ["NAME_PATTERN", "ConfigError", "Section", "check_base_url"]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}$"
"""Candidate and campaign names: they end up in Redis keys, metric labels and file names."""


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
