"""The capacity bench (``loadtests/bench_scale.py``) still drives the real writer and worker:
a few pairs written and scored on a fresh embedded Redis, every one accounted for. Nothing
here judges a rate."""

from __future__ import annotations

from loadtests.bench_scale import embedded, markdown, marker_bytes, memory, records


async def test_a_small_run_writes_scores_and_renders() -> None:
    async with embedded() as server:
        run = await memory(server, records("synthetic", 40), "core")
        markers = await marker_bytes(server, count=200)
    assert run["pairs"] == 40
    assert run["score_entries"] == 40  # one mirror per synthetic pair
    assert run["batches"] >= 1
    # Redis holds at least the record's own bytes for every pair, and something per score.
    assert run["pairs_stream_bytes_per_pair"] > run["record_bytes"]
    assert run["scores_stream_bytes_per_entry"] > 0
    assert markers["bytes_per_marker"] > 0
    writes = {"round": 1, "feeders": 1, "pairs": 40, "pairs_per_s": 1.0, "redis_cpu_share": 0.1}
    writes |= {"feeders_cpu_share": 0.5, "redis_us_per_pair": 10.0}
    batching = {"pairs_per_s": 100, "pairs_per_batch": 1.0, "batches_per_s": 100.0}
    text = markdown(
        {"writes": [writes], "writes_median": [writes], "memory": [{"records": "synthetic", **run}]}
        | {"batching": [batching], "markers": markers}
    )
    assert "| total_bytes_per_pair |" in text
    assert "| memory | synthetic, core" in text
