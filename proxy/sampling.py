"""Which requests are mirrored.

With ``sample_key: random`` every request is an independent coin flip. With
``header:<name>`` or ``json:<field>`` the decision is a stable hash of the key's value, so a
user or tenant is always in or always out, in every proxy process and across restarts. The
hash maps to [0, 1) and is compared with the rate, so raising the rate only ever adds keys:
a user sampled at 5% stays sampled at 10%.

A request that lacks its sample key falls back to a coin flip rather than being lumped
together with every other keyless request.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from typing import Any

__all__ = ["Sampler"]

_SCALE = float(1 << 64)


def _unit_hash(value: bytes) -> float:
    return int.from_bytes(hashlib.blake2b(value, digest_size=8).digest(), "big") / _SCALE


class Sampler:
    """Decides, per request, whether it is mirrored. ``rate`` may change at run time."""

    def __init__(self, rate: float, sample_key: str, *, rng: random.Random | None = None) -> None:
        self.rate = rate
        kind, _, arg = sample_key.partition(":")
        self.kind = kind
        self.header = arg.lower() if kind == "header" else None
        self.json_field = arg if kind == "json" else None
        self._random = (rng or random.Random()).random

    @property
    def needs_body(self) -> bool:
        """Whether the decision needs the parsed JSON body."""
        return self.json_field is not None

    def key_of(self, headers: Mapping[str, str], body: Any = None) -> bytes | None:
        if self.header is not None:
            value = headers.get(self.header)
            return value.encode() if value is not None else None
        if self.json_field is not None and isinstance(body, dict):
            node: Any = body
            for part in self.json_field.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            return None if node is None else str(node).encode()
        return None

    def decide(self, key: bytes | None) -> bool:
        rate = self.rate
        if rate <= 0.0:
            return False
        if rate >= 1.0:
            return True
        if key is None:
            return self._random() < rate
        return _unit_hash(key) < rate
