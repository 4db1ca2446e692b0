"""The effective config with its secrets masked, for ``darklaunch check-config``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from proxy.config.base import SECRET_HEADER_WORDS
from proxy.config.root import Config

__all__ = ["MASK", "SECRET_HEADER_WORDS", "SECRET_KEYS", "masked_dump"]

SECRET_KEYS = frozenset({"token", "password", "api_key", "secret"})
MASK = "***"


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
