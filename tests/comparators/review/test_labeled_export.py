"""``darklaunch export --labeled``: labeled pairs on a real Redis become golden items whose
label, expected answer and provenance load back, and a relabelling replaces its item in the
next version, never the earlier one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import yaml

from comparators.commands import export_campaign
from comparators.export import ExportError
from comparators.golden.model import Expected
from comparators.golden.store import load_version
from comparators.review.label import Label, add_label
from proxy.config.root import Config
from proxy.recording.keys import pairs_key, scores_key
from tests.comparators.score_factories import score
from tests.comparators.test_export import pair
from tests.proxy.config.cli import run_cli


def label(campaign: str, pair_id: str, reviewer: str, verdict: str, **extra: object) -> Label:
    return Label.model_validate(
        {
            "campaign": campaign,
            "pair_id": pair_id,
            "mirror": "cand-a",
            "reviewer": reviewer,
            "verdict": verdict,
            "time": 1_700_000_100.0,
            **extra,
        }
    )


@pytest.fixture
async def client(redis_url: str, campaign: str) -> AsyncIterator[aioredis.Redis]:
    """``campaign`` with four pairs, scored (p2 with a high divergence), and labels: ann on
    p1 and p2, bob on p2 after her (his wins), bob alone on p3; p4 unlabeled."""
    found = aioredis.Redis.from_url(redis_url)
    try:
        for pair_id in ("p1", "p2", "p3", "p4"):
            record = pair(pair_id).model_copy(update={"campaign": campaign})
            await found.xadd(pairs_key(campaign), {"record": record.model_dump_json()})
            similarity = 0.2 if pair_id == "p2" else 0.95
            scored = score(pair_id, campaign=campaign, similarity=similarity)
            await found.xadd(scores_key(campaign), {"record": scored.model_dump_json()})
        for given in (
            label(campaign, "p1", "ann", "candidate_better", expected="Paris is the capital."),
            label(campaign, "p2", "ann", "same"),
            label(campaign, "p2", "bob", "candidate_worse", expected="42", note="<b>x</b>"),
            label(campaign, "p3", "bob", "both_wrong"),
        ):
            await add_label(found, given)
        yield found
    finally:
        await found.aclose()


@pytest.fixture
def config(redis_url: str) -> Config:
    return Config.model_validate(
        {"incumbent": {"url": "http://127.0.0.1:9"}, "recording": {"redis_url": redis_url}}
    )


async def test_labeled_pairs_round_trip(
    client: aioredis.Redis, config: Config, campaign: str, tmp_path: Path
) -> None:
    manifest = await export_campaign(config, campaign, None, tmp_path, labeled=True)
    assert (manifest.version, manifest.count, manifest.added) == ("v1", 3, 3)
    assert manifest.provenance.filter == "--labeled"
    assert manifest.provenance.source == "review"
    assert manifest.missing_pairs == 0
    loaded = load_version(tmp_path)
    items = {item.id: item for item in loaded.items}
    assert sorted(items) == ["p1:cand-a", "p2:cand-a", "p3:cand-a"]
    first, second, third = items["p1:cand-a"], items["p2:cand-a"], items["p3:cand-a"]
    assert (first.label, first.expected) == (
        "candidate_better",
        Expected(text="Paris is the capital."),
    )
    assert (second.label, second.expected) == ("candidate_worse", Expected(text="42"))
    assert (third.label, third.expected) == ("both_wrong", None)
    provenance = second.provenance.model_dump()
    assert provenance == {
        "source": "review",
        "campaign": campaign,
        "pair_id": "p2",
        "mirror": "cand-a",
        "reviewer": "bob",  # the latest label on p2 is bob's
        "time": manifest.created_at,
    }
    assert first.provenance.reviewer == "ann"
    assert first.recorded is not None
    assert first.recorded.incumbent["text"] == "answer p1"
    assert first.recorded.candidate is not None
    assert first.recorded.candidate["text"] == "other p1"
    assert first.tags == {"kind": "chat"}
    assert first.scores is not None
    assert first.scores["pair_id"] == "p1"


async def test_one_reviewer_and_a_filter(
    client: aioredis.Redis, config: Config, campaign: str, tmp_path: Path
) -> None:
    ann = await export_campaign(
        config, campaign, None, tmp_path / "ann", labeled=True, reviewer="ann"
    )
    items = {item.id: item for item in load_version(tmp_path / "ann").items}
    assert sorted(items) == ["p1:cand-a", "p2:cand-a"]
    assert items["p2:cand-a"].label == "same"  # ann's own label, bob's is not hers
    assert ann.provenance.filter == "--labeled --reviewer ann"
    both = await export_campaign(
        config, campaign, "divergence > 0.5", tmp_path / "where", labeled=True
    )
    assert [item.id for item in load_version(tmp_path / "where").items] == ["p2:cand-a"]
    assert both.provenance.filter == "--labeled --where divergence > 0.5"
    with pytest.raises(
        ExportError, match=r"no labels by reviewer 'zoe'.*reviewers with labels: ann, bob"
    ):
        await export_campaign(
            config, campaign, None, tmp_path / "zoe", labeled=True, reviewer="zoe"
        )
    assert not (tmp_path / "zoe").exists()


async def test_a_second_export_replaces_relabelled_items(
    client: aioredis.Redis, config: Config, campaign: str, tmp_path: Path
) -> None:
    await export_campaign(config, campaign, None, tmp_path, labeled=True)
    v1 = {p.name: p.read_bytes() for p in (tmp_path / "v1").iterdir()}
    await add_label(client, label(campaign, "p1", "cat", "incumbent_wrong", expected="Lyon"))
    await add_label(client, label(campaign, "p4", "ann", "same"))
    second = await export_campaign(config, campaign, None, tmp_path, labeled=True)
    assert (second.version, second.parent) == ("v2", "v1")
    assert (second.count, second.added, second.replaced) == (4, 1, 1)
    items = {item.id: item for item in load_version(tmp_path, "v2").items}
    relabelled = items["p1:cand-a"]
    assert (relabelled.label, relabelled.expected) == ("incumbent_wrong", Expected(text="Lyon"))
    assert relabelled.provenance.reviewer == "cat"
    assert items["p4:cand-a"].label == "same"
    # Unchanged items keep their first provenance; v1 is never touched.
    assert items["p3:cand-a"].provenance == load_version(tmp_path, "v1").items[2].provenance
    assert {p.name: p.read_bytes() for p in (tmp_path / "v1").iterdir()} == v1
    assert load_version(tmp_path, "v1").items[0].label == "candidate_better"


async def test_the_command_line(
    client: aioredis.Redis, redis_url: str, campaign: str, tmp_path: Path
) -> None:
    path = tmp_path / "darklaunch.yaml"
    path.write_text(
        yaml.safe_dump(
            {"incumbent": {"url": "http://127.0.0.1:9"}, "recording": {"redis_url": redis_url}}
        )
    )
    base = ("export", "--config", str(path), "--campaign", campaign, "--out", str(tmp_path / "g"))
    done = run_cli(*base, "--labeled", "--reviewer", "bob")
    assert done.returncode == 0, done.stderr
    assert "exported 2 labeled pairs" in done.stdout
    assert {item.label for item in load_version(tmp_path / "g").items} == {
        "candidate_worse",
        "both_wrong",
    }
    neither = run_cli(*base)
    assert neither.returncode == 2
    assert "--where FILTER" in neither.stderr
    assert "--labeled" in neither.stderr
    alone = run_cli(*base, "--reviewer", "bob")
    assert (alone.returncode, "--reviewer needs --labeled" in alone.stderr) == (2, True)
