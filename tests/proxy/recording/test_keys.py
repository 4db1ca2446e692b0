"""The Redis names are a contract with every reader and with docs/records.md: spelled out
here literally, so a change to the key module cannot slip by as a refactoring."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from proxy.recording import keys

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (keys.pairs_key, "darklaunch:{shop}:pairs"),
        (keys.scores_key, "darklaunch:{shop}:scores"),
        (keys.dead_key, "darklaunch:{shop}:dead"),
    ],
)
def test_campaign_keys(build, expected) -> None:
    assert build("shop") == expected


def test_batch_marker_and_stream_vocabulary() -> None:
    assert keys.batch_marker_key("shop", "b1") == "darklaunch:{shop}:batch:b1"
    assert (keys.RECORD_FIELD, keys.RECORD_FIELD_BYTES) == ("record", b"record")
    assert keys.CONSUMER_GROUP == "comparators"


def test_shard_keys_have_a_tag_of_their_own_and_name_their_campaign() -> None:
    assert keys.pairs_key("shop", 2) == "darklaunch:{shop:2}:pairs"
    assert keys.scores_key("shop", 0) == "darklaunch:{shop:0}:scores"
    assert keys.dead_key("shop", 1) == "darklaunch:{shop:1}:dead"
    assert keys.judgements_key("shop", 1) == "darklaunch:{shop:1}:judgements"
    assert keys.batch_marker_key("shop", "b1", 3) == "darklaunch:{shop:3}:batch:b1"
    assert keys.shards_key("shop") == "darklaunch:{shop}:shards"
    assert keys.pairs_key("shop", None) == keys.pairs_key("shop")  # shard None: unsharded
    assert keys.campaign_of_pairs_key("darklaunch:{shop:12}:pairs") == "shop"
    assert keys.campaign_of_pairs_key(b"darklaunch:{shop}:pairs") == "shop"
    assert keys.campaign_of_pairs_key("darklaunch:{shop:x}:pairs") is None
    with pytest.raises(ValueError, match="shard: got -1"):
        keys.pairs_key("shop", -1)


def test_every_key_of_a_campaign_shares_its_cluster_hash_tag() -> None:
    # Redis Cluster hashes only what lies between the first '{' and the next '}'.
    built = [keys.pairs_key("a:b"), keys.scores_key("a:b"), keys.batch_marker_key("a:b", "x")]
    assert {k[k.index("{") + 1 : k.index("}")] for k in built} == {"a:b"}


def test_no_other_module_spells_a_key() -> None:
    """Key names are built only in proxy/recording/keys.py: any other string literal holding
    ``darklaunch:{`` in the packages would be a second spelling of the contract. Prose
    (docstrings, attribute docstrings: strings standing as statements) may name a key."""
    offenders = []
    for top in ("proxy", "comparators"):
        for path in (ROOT / top).rglob("*.py"):
            if path == ROOT / "proxy" / "recording" / "keys.py":
                continue
            tree = ast.parse(path.read_text())
            prose = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}
            offenders += [
                f"{path.relative_to(ROOT)}:{node.lineno}"
                for node in ast.walk(tree)
                if isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and "darklaunch:{" in node.value
                and id(node) not in prose
            ]
    assert offenders == []


def test_the_pairs_pattern_and_its_parser_match_the_builder() -> None:
    assert keys.PAIRS_KEY_PATTERN == "darklaunch:{*}:pairs"
    assert keys.campaign_of_pairs_key("darklaunch:{shop}:pairs") == "shop"
    assert keys.campaign_of_pairs_key(b"darklaunch:{a.b-c}:pairs") == "a.b-c"
    for other in ("darklaunch:{shop}:scores", "darklaunch:{}:pairs", "x:{shop}:pairs"):
        assert keys.campaign_of_pairs_key(other) is None
