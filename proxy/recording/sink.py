"""Where finished pairs go: one small interface, several sinks.

The request path must never wait on storage, so :meth:`Recorder.submit` is synchronous and
non-blocking: a sink either takes the record at once or counts it as dropped with a reason.
Sinks take the record as plain data and encode it themselves, so that one that stores bytes
never pays for building models (see :mod:`proxy.recording.encode`).
"""

from __future__ import annotations

from typing import Protocol

from proxy.recording.encode import PairData, encode_record
from proxy.recording.schema import PairRecord

__all__ = ["MemoryRecorder", "Recorder"]


class Recorder(Protocol):
    # False while the backing store refuses writes (records are spooling); /readyz reports it.
    healthy: bool

    def submit(self, record: PairData) -> None:
        """Take ownership of a finished record without blocking."""

    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Flush what is queued; called once at shutdown, after the mirrors have drained."""


class MemoryRecorder:
    """Keeps records in a list: for tests, the demo's dry runs and ``--no-record`` serving.

    Each record is kept as a reader would see it, parsed back from the encoded bytes, so that
    whatever reads these records also checks the encoding the Redis stream gets.
    """

    def __init__(self) -> None:
        self.records: list[PairRecord] = []
        self.healthy = True

    def submit(self, record: PairData) -> None:
        self.records.append(PairRecord.model_validate_json(encode_record(record)))

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
