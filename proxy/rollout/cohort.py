"""Who is in the rollout's cohort: served by the candidate at the current share.

A keyed cohort (``header:<name>`` or ``json:<field>``) hashes the key's value to [0, 1) and
compares it with the share, so the cohort only ever grows as the share does: a user served by
the candidate at 5% is still served by it at 25%, and a user outside at 25% was outside at 5%.
The hash is salted with the candidate's name, so the cohort is not the same slice of users as
the mirror's sample (``mirror.sample_key``) or an earlier rollout's.

A request without its key is a coin flip at the share. The flag header
(``rollout.flag_header``) overrides both: ``candidate`` puts a request in, ``incumbent`` out.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from typing import Any

from proxy.config.rollout import RolloutConfig

__all__ = ["FLAG_CANDIDATE", "FLAG_INCUMBENT", "Cohort"]

FLAG_CANDIDATE = "candidate"
FLAG_INCUMBENT = "incumbent"
_SCALE = float(1 << 64)


class Cohort:
    """The cohort decision for one rollout; the share is passed in, as it changes at run time."""

    def __init__(self, config: RolloutConfig, *, rng: random.Random | None = None) -> None:
        kind, _, arg = config.cohort_key.partition(":")
        self.header = arg.lower() if kind == "header" else None
        self.json_field = arg.split(".") if kind == "json" else None
        self.flag_header = config.flag_header
        self._salt = hashlib.blake2b(
            config.candidate.encode(), digest_size=16, person=b"dl-rollout"
        ).digest()
        self._random = (rng or random.Random()).random

    @property
    def needs_body(self) -> bool:
        return self.json_field is not None

    def position(self, key: bytes) -> float:
        """Where ``key`` falls in [0, 1): in the cohort while the share is above it."""
        digest = hashlib.blake2b(key, digest_size=8, key=self._salt).digest()
        return int.from_bytes(digest, "big") / _SCALE

    def key_of(self, headers: Mapping[str, str], body: Any = None) -> bytes | None:
        if self.header is not None:
            value = headers.get(self.header)
            return value.encode() if value is not None else None
        if self.json_field is not None:
            node: Any = body
            for part in self.json_field:
                node = node.get(part) if isinstance(node, dict) else None
            return None if node is None else str(node).encode()
        return None

    def flagged(self, headers: Mapping[str, str]) -> bool | None:
        """The flag header's say: ``True`` (candidate), ``False`` (incumbent) or ``None``."""
        if self.flag_header is None:
            return None
        value = headers.get(self.flag_header)
        if value is None:
            return None
        value = value.strip().lower()
        if value == FLAG_CANDIDATE:
            return True
        if value == FLAG_INCUMBENT:
            return False
        return None

    def includes(self, share: float, headers: Mapping[str, str], body: Any = None) -> bool:
        """Whether this request is served by the candidate at ``share``. The flag header
        only acts while the rollout serves at all (``share > 0``): a rolled-back candidate
        serves nobody, flagged or not."""
        if share <= 0.0:
            return False
        flag = self.flagged(headers)
        if flag is not None:
            return flag
        if share >= 1.0:
            return True
        key = self.key_of(headers, body)
        if key is None:
            return self._random() < share
        return self.position(key) < share
