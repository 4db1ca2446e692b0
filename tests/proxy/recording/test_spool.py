from __future__ import annotations

from pathlib import Path

from proxy.recording.spool import Spool


def test_batches_replay_in_order_and_files_vanish_when_empty(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "c", 1 << 20)
    assert not spool
    assert spool.append("b1", [b'{"n":1}', b'{"n":2}'])
    assert spool.append("b2", [b'{"n":3}'])
    first = spool.peek()
    assert first is not None
    assert (first.batch_id, first.records) == ("b1", [b'{"n":1}', b'{"n":2}'])
    spool.commit(first)
    # A restart in between resumes after the committed batch.
    reopened = Spool(tmp_path, "c", 1 << 20)
    second = reopened.peek()
    assert second is not None
    assert second.batch_id == "b2"
    reopened.commit(second)
    assert reopened.peek() is None
    assert not list(tmp_path.iterdir())


def test_size_cap_refuses_a_batch(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "c", 100)
    assert spool.append("b1", [b"x" * 40])
    assert not spool.append("b2", [b"y" * 40])
    assert spool.pending_bytes <= 100


def test_torn_last_line_is_not_replayed_and_corrupt_line_is_skipped(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "c", 1 << 20)
    with spool.path.open("ab") as handle:
        handle.write(b"garbage that is not json\n")
    spool.append("good", [b"{}"])
    with spool.path.open("ab") as handle:
        handle.write(b'{"batch": "torn", "reco')
    batch = spool.peek()
    assert batch is not None
    assert batch.batch_id == "good"
    spool.commit(batch)
    assert spool.peek() is None
