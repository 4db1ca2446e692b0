from __future__ import annotations

import random

from multidict import CIMultiDict

from proxy.sampling import Sampler


def test_random_rate_is_honoured() -> None:
    sampler = Sampler(0.25, "random", rng=random.Random(7))
    share = sum(sampler.decide(None) for _ in range(20_000)) / 20_000
    assert 0.24 < share < 0.26


def test_header_key_is_sticky_and_monotone_in_rate() -> None:
    sampler = Sampler(0.3, "header:X-User-Id")
    users = [f"user-{i}" for i in range(2000)]
    first = {u: sampler.decide(sampler.key_of(CIMultiDict({"x-user-id": u}))) for u in users}
    again = {u: sampler.decide(sampler.key_of(CIMultiDict({"X-User-ID": u}))) for u in users}
    assert first == again
    assert 0.26 < sum(first.values()) / len(users) < 0.34
    sampler.rate = 0.6
    wider = {u: sampler.decide(sampler.key_of(CIMultiDict({"x-user-id": u}))) for u in users}
    assert all(wider[u] for u in users if first[u])


def test_json_key_reads_nested_field_and_missing_key_falls_back_to_random() -> None:
    sampler = Sampler(0.5, "json:metadata.tenant", rng=random.Random(1))
    assert sampler.needs_body
    assert sampler.key_of(CIMultiDict(), {"metadata": {"tenant": "acme"}}) == b"acme"
    assert sampler.key_of(CIMultiDict(), {"metadata": "flat"}) is None
    share = sum(sampler.decide(None) for _ in range(4000)) / 4000
    assert 0.45 < share < 0.55


def test_edges() -> None:
    assert not Sampler(0.0, "random").decide(b"k")
    assert Sampler(1.0, "header:x").decide(b"k")
