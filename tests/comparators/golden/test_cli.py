"""``darklaunch golden`` run for real, in a subprocess, output read from pipes as a CI job
reads it: import, diff, stats and verify, their exit codes and their one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import yaml

from proxy.recording.keys import pairs_key, scores_key
from tests.comparators.factories import mirror, record
from tests.comparators.score_factories import score
from tests.proxy.config.cli import run_cli

JSONL = (
    '{"prompt": "What is 2+2?", "expected": "4", "tags": {"area": "math"}}\n'
    '{"id": "refund", "messages": [{"role": "user", "content": "Refund me"}]}\n'
)
CSV = "id,prompt,expected,system,tag:tenant\nrefund,Refund me now,Sure,Be kind,acme\n,New one,,,\n"


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "prompts.jsonl").write_text(JSONL)
    (tmp_path / "prompts.csv").write_text(CSV)
    return tmp_path / "prompts.jsonl", tmp_path / "prompts.csv"


def ok(*args: str) -> subprocess.CompletedProcess[str]:
    done = run_cli("golden", *args)
    assert done.returncode == 0, done.stderr
    return done


def test_import_twice_then_diff_and_stats(tmp_path: Path, files: tuple[Path, Path]) -> None:
    jsonl, csv = files
    gold = tmp_path / "gold"
    first = ok("import", str(jsonl), "--out", str(gold), "--model", "small")
    assert first.stdout.startswith(
        f"imported 2 rows from {jsonl} as {gold}/v1: 2 items (no parent: 2 added, 0 replaced)"
    )
    second = ok("import", str(csv), "--out", str(gold), "--model", "small")
    assert f"as {gold}/v2: 3 items (parent v1: 1 added, 1 replaced)" in second.stdout
    manifest = json.loads((gold / "v2" / "manifest.json").read_text())
    assert (manifest["parent"], manifest["added"], manifest["replaced"]) == ("v1", 1, 1)
    assert manifest["provenance"] == {"source": "import", "file": str(csv), "rows": 2}

    diff = json.loads(ok("diff", str(gold), "v1", "2", "--format", "json").stdout)
    assert (diff["a"], diff["b"]) == ("v1", "v2")
    [added] = diff["added"]
    assert added.startswith("g-")
    assert diff["changed"] == ["refund"]  # a system message now: a different request
    assert (diff["removed"], diff["relabelled"], diff["unchanged"]) == ([], [], 1)
    table = ok("diff", str(gold), "v1", "v2").stdout
    assert "golden set v1 → v2" in table
    assert any(line.split()[:4] == ["│", "changed", "│", "1"] for line in table.splitlines())

    stats = json.loads(ok("stats", str(gold), "--format", "json").stdout)
    assert (stats["version"], stats["parent"], stats["count"]) == ("v2", "v1", 3)
    assert (stats["with_expected"], stats["with_recorded"], stats["verified"]) == (2, 0, True)
    assert stats["segments"] == {
        "area=math": 1,
        "kind=chat": 3,
        "route=/v1/chat/completions": 3,
        "tenant=acme": 1,
    }
    text = ok("stats", str(gold), "v1").stdout
    assert "v1 (darklaunch-golden-set/2)" in text
    assert "none (a fresh lineage)" in text
    assert "| kind=chat | 3 (100%) |" in ok("stats", str(gold), "--format", "markdown").stdout


def test_new_starts_a_fresh_lineage(tmp_path: Path, files: tuple[Path, Path]) -> None:
    jsonl, csv = files
    gold = tmp_path / "gold"
    ok("import", str(jsonl), "--out", str(gold), "--model", "small")
    done = ok("import", str(csv), "--out", str(gold), "--model", "small", "--new")
    assert f"as {gold}/v2: 2 items (no parent: 2 added, 0 replaced)" in done.stdout
    diff = json.loads(ok("diff", str(gold), "v1", "v2", "--format", "json").stdout)
    assert len(diff["removed"]) == 1


def test_a_bad_row_is_one_line_naming_file_and_line_and_writes_nothing(
    tmp_path: Path, files: tuple[Path, Path]
) -> None:
    jsonl, _ = files
    gold = tmp_path / "gold"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "fine"}\n{"prompt": "x", "tags": {"tier": 2}}\n')
    done = run_cli("golden", "import", str(bad), "--out", str(gold), "--model", "m")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"error: {bad}:2: tags.tier: got 2; expected a string; nothing written"
    ]
    assert not gold.exists()
    no_model = run_cli("golden", "import", str(jsonl), "--out", str(gold))
    assert no_model.returncode == 2
    assert no_model.stderr.strip() == (
        f"error: {jsonl}:1: a prompt needs a model for its request body; expected --model M; "
        "nothing written"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("stats", "{gold}"), "error: {gold}: no complete version (a v<N>/ folder"),
        (("stats", "{gold}", "v9"), "error: {gold}: no complete version v9"),
        (("stats", "{gold}", "--format", "html"), "error: --format 'html'; expected one of text"),
        (("diff", "{gold}", "latest", "v1"), "error: version 'latest'; expected v<N> or <N>"),
        (("verify", "{gold}"), "error: {gold}: no complete version"),
        (("verify", "{gold}", "latest"), "error: version 'latest'; expected v<N> or <N>"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    gold = str(tmp_path / "gold")
    done = run_cli("golden", *(arg.format(gold=gold) for arg in args))
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith(message.format(gold=gold))


def test_a_hand_edited_item_fails_verify_stats_diff_and_import(
    tmp_path: Path, files: tuple[Path, Path]
) -> None:
    jsonl, csv = files
    gold = tmp_path / "gold"
    ok("import", str(jsonl), "--out", str(gold), "--model", "small")
    ok("import", str(csv), "--out", str(gold), "--model", "small")
    verified = ok("verify", str(gold))
    assert [line.split()[1:4] for line in verified.stdout.splitlines() if "│ v" in line] == [
        ["v1", "│", "ok"],
        ["v2", "│", "ok"],
    ]
    items = gold / "v1" / "items.jsonl"
    items.write_text(items.read_text().replace('"4"', '"5"'))  # a "fixed" reference answer

    done = run_cli("golden", "verify", str(gold), "--format", "json")
    assert done.returncode == 1
    assert [(row["version"], row["status"]) for row in json.loads(done.stdout)] == [
        ("v1", "MISMATCH"),
        ("v2", "ok"),
    ]
    assert done.stderr.startswith(f"error: {items}: sha256 ")
    assert "does not match the manifest's" in done.stderr
    assert ok("verify", str(gold), "v2").stdout.count("ok") == 1
    assert run_cli("golden", "verify", str(gold), "1").returncode == 1

    for args in (("stats", str(gold), "v1"), ("diff", str(gold), "v1", "v2")):
        failed = run_cli("golden", *args)
        assert failed.returncode == 1, args
        assert failed.stdout == ""
        assert len(failed.stderr.splitlines()) == 1
        assert f"{items}: sha256" in failed.stderr
    assert run_cli("golden", "stats", str(gold)).returncode == 0  # v2 is intact

    (gold / "v2" / "items.jsonl").write_text("")
    onto = run_cli("golden", "import", str(csv), "--out", str(gold), "--model", "small")
    assert onto.returncode == 1
    assert onto.stderr.startswith("error: cannot build on the latest version: ")
    assert sorted(p.name for p in gold.iterdir()) == ["v1", "v2"]


def test_golden_is_listed_and_loads_no_analysis_extra(
    tmp_path: Path, files: tuple[Path, Path]
) -> None:
    """The golden commands need only the core install: no numpy or scipy is imported, so a CI
    job verifying a set runs on ``pip install darklaunch``."""
    root = run_cli("--help")
    assert "golden            Golden sets: import prompts, diff, stats, verify." in root.stdout
    listed = run_cli("golden", "--help").stdout
    assert all(name in listed for name in ("import", "diff", "stats", "verify"))
    jsonl, _ = files
    code = (
        "import sys\n"
        "from proxy.cli import app\n"
        "for args in (['import', sys.argv[1], '--out', sys.argv[2], '--model', 'm'],"
        " ['stats', sys.argv[2]], ['verify', sys.argv[2]]):\n"
        "    try:\n"
        "        app(['golden', *args])\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code == 0, (args, exc.code)\n"
        "heavy = [m for m in ('numpy', 'scipy', 'matplotlib', 'redis') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(jsonl), str(tmp_path / "gold")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "gold" / "v1" / "manifest.json").is_file()


@pytest.fixture
async def exported_campaign(redis_url: str, campaign: str) -> AsyncIterator[str]:
    """``campaign`` with three real pairs whose candidate diverged (p0, p1) or did not (p2)."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        for i, similarity in enumerate((0.1, 0.2, 1.0)):
            pair = record(mirrors=[mirror(f"other {i}")], pair_id=f"p{i}")
            await client.xadd(pairs_key(campaign), {"record": pair.model_dump_json()})
            scored = score(f"p{i}", campaign=campaign, similarity=similarity)
            await client.xadd(scores_key(campaign), {"record": scored.model_dump_json()})
        yield campaign
    finally:
        await client.aclose()


def test_export_writes_a_version_golden_reads(
    tmp_path: Path, redis_url: str, exported_campaign: str
) -> None:
    config = tmp_path / "darklaunch.yaml"
    config.write_text(
        yaml.safe_dump(
            {"incumbent": {"url": "http://127.0.0.1:9"}, "recording": {"redis_url": redis_url}}
        )
    )
    gold = tmp_path / "gold"
    common = ("--config", str(config), "--campaign", exported_campaign, "--out", str(gold))
    first = run_cli("export", *common, "--where", "divergence > 0.85")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(
        f"exported 1 pairs as {gold}/v1: 1 items (parent none: 1 added, 0 replaced), sha256 "
    )
    second = run_cli("export", *common, "--where", "divergence > 0.5")
    assert "exported 2 pairs as" in second.stdout
    assert f"{gold}/v2: 2 items (parent v1: 1 added, 0 replaced)" in second.stdout
    fresh = run_cli("export", *common, "--where", "divergence < 0.5", "--new")
    assert f"{gold}/v3: 1 items (parent none: 1 added, 0 replaced)" in fresh.stdout

    stats = json.loads(ok("stats", str(gold), "v2", "--format", "json").stdout)
    assert (stats["count"], stats["with_recorded"], stats["sources"]) == (2, 2, {"export": 2})
    assert stats["provenance"]["campaign"] == exported_campaign
    assert stats["segments"]["kind=chat"] == 2
    diff = json.loads(ok("diff", str(gold), "v2", "v3", "--format", "json").stdout)
    assert (diff["added"], diff["removed"]) == (["p2:cand-a"], ["p0:cand-a", "p1:cand-a"])
    assert ok("verify", str(gold)).stdout.count("│ ok ") == 3
