"""An append-only spool of record batches, for when Redis is away.

Each line is one batch: ``{"batch": "<id>", "records": ["<json>", ...]}``. Batches keep the
id they were first tried with, so a batch whose fate is unknown (Redis died mid-write) is
replayed under the same id and written at most once (see :mod:`proxy.recording.writer`). A
small ``.offset`` file remembers how far replay has got; it is updated after each batch is
safely in Redis, and both files are removed once the spool is empty.

The spool has a size cap; a batch that does not fit is refused, and the caller counts its
records as dropped.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import orjson

logger = logging.getLogger(__name__)

__all__ = ["Spool", "SpooledBatch"]


@dataclass(frozen=True, slots=True)
class SpooledBatch:
    batch_id: str
    records: list[bytes]
    end_offset: int


class Spool:
    """One spool file per campaign and process, under ``directory``."""

    def __init__(self, directory: Path, name: str, max_bytes: int) -> None:
        self.directory = directory
        self.path = directory / f"{name}.spool"
        self.offset_path = directory / f"{name}.offset"
        self.max_bytes = max_bytes
        directory.mkdir(parents=True, exist_ok=True)
        self._offset = self._read_offset()

    def _read_offset(self) -> int:
        try:
            return int(self.offset_path.read_text().strip() or 0)
        except (OSError, ValueError):
            return 0

    @property
    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    @property
    def pending_bytes(self) -> int:
        return max(0, self.size - self._offset)

    def __bool__(self) -> bool:
        return self.pending_bytes > 0

    def append(self, batch_id: str, records: list[bytes]) -> bool:
        """Add a batch at the end; ``False`` when it would pass the size cap."""
        line = orjson.dumps({"batch": batch_id, "records": [r.decode() for r in records]}) + b"\n"
        if self.size + len(line) > self.max_bytes:
            return False
        with self.path.open("ab") as handle:
            handle.write(line)
        return True

    def peek(self) -> SpooledBatch | None:
        """The oldest batch not yet replayed, or ``None``. A torn last line (a crash during
        ``append``) is skipped, since its batch was never acknowledged as spooled."""
        while True:
            try:
                with self.path.open("rb") as handle:
                    handle.seek(self._offset)
                    line = handle.readline()
            except FileNotFoundError:
                return None
            if not line:
                return None
            end = self._offset + len(line)
            if not line.endswith(b"\n"):
                return None
            try:
                data = orjson.loads(line)
                return SpooledBatch(str(data["batch"]), [r.encode() for r in data["records"]], end)
            except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
                logger.error(
                    "spool %s: skipping a corrupt line at offset %d", self.path, self._offset
                )
                self._commit(end)

    def commit(self, batch: SpooledBatch) -> None:
        """Mark ``batch`` as safely written; empties the spool when it was the last one."""
        self._commit(batch.end_offset)

    def _commit(self, offset: int) -> None:
        self._offset = offset
        if offset >= self.size:
            self.path.unlink(missing_ok=True)
            self.offset_path.unlink(missing_ok=True)
            self._offset = 0
            return
        temp = self.offset_path.with_suffix(".tmp")
        temp.write_text(str(offset))
        os.replace(temp, self.offset_path)
