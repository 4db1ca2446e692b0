"""An append-only spool of record batches, for when Redis is away.

Each line is one batch: ``{"batch": "<id>", "records": ["<json>", ...]}``. Batches keep the
id they were first tried with, so a batch whose fate is unknown (Redis died mid-write) is
replayed under the same id and written at most once (see :mod:`proxy.recording.writer`). A
small ``.offset`` file remembers how far replay has got; it is updated after each batch is
safely in Redis, and both files are removed once the spool is empty.

The spool has a size cap; a batch that does not fit is refused, and the caller counts its
records as dropped.

The disk can also refuse a write (full, failing): :meth:`Spool.append` then raises
:class:`OSError` after cutting off what it wrote of the line, so the batches before it stay
intact and replayable, and a batch that follows is not glued onto a fragment (which would make
both one corrupt line, skipped on replay). A fragment that could not be cut off, or that a crash
left, is ended with a newline before the next batch, and skipped by :meth:`Spool.peek`'s caller
with :meth:`Spool.skip_torn_tail` when it is the last thing in the file.
"""

from __future__ import annotations

import contextlib
import errno
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
        except OSError:  # no file; or one we cannot even stat, which we could not replay either
            return 0

    @property
    def pending_bytes(self) -> int:
        return max(0, self.size - self._offset)

    def __bool__(self) -> bool:
        return self.pending_bytes > 0

    def append(self, batch_id: str, records: list[bytes]) -> bool:
        """Add a batch at the end; ``False`` when it would pass the size cap.

        Raises :class:`OSError` when the disk refuses the write; the batch is then not in the
        spool, and what it wrote of its line is cut off again where the file system allows.
        Written with ``os.write`` rather than a buffered file, so that a failure surfaces here,
        once, with the file's end known, and not again from a ``close`` that flushes."""
        line = orjson.dumps({"batch": batch_id, "records": [r.decode() for r in records]}) + b"\n"
        if self.size + len(line) > self.max_bytes:
            return False
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            end = os.fstat(fd).st_size
            if end and os.pread(fd, 1, end - 1) != b"\n":
                line = b"\n" + line  # end a fragment, so this batch stays a line of its own
            try:
                _write_all(fd, line)
            except OSError:
                with contextlib.suppress(OSError):  # not every file can be truncated
                    os.ftruncate(fd, end)
                raise
        finally:
            os.close(fd)
        return True

    def peek(self) -> SpooledBatch | None:
        """The oldest batch not yet replayed, or ``None``. A torn last line (a crash or a
        failed write during ``append``) is not returned, since its batch was never acknowledged
        as spooled; the spool is then still not empty, until :meth:`skip_torn_tail`."""
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

    def skip_torn_tail(self) -> bool:
        """After :meth:`peek` found nothing, drop what is left: the fragment of a batch whose
        append failed or was cut short by a crash. Without this the spool would never be empty
        again, and the writer would wait on it forever. Call it only between appends (the
        writer's own task does both), never while one may be in flight. ``True`` when there
        was a fragment."""
        left = self.pending_bytes
        if not left:
            return False
        logger.warning(
            "spool %s: dropping %d bytes of a batch cut short at offset %d",
            self.path,
            left,
            self._offset,
        )
        self._commit(self.size)
        return True

    def commit(self, batch: SpooledBatch) -> None:
        """Mark ``batch`` as safely written; empties the spool when it was the last one.

        Raises :class:`OSError` when the progress cannot be saved (a full disk cannot take the
        offset file). The batch still counts as replayed in memory: only after a restart
        would it be replayed again, and its batch marker keeps that from writing it twice."""
        self._commit(batch.end_offset)

    def _commit(self, offset: int) -> None:
        self._offset = offset
        temp = self.offset_path.with_suffix(".tmp")
        if offset >= self.size:
            # The offset file goes first: should the spool file outlive it (a crash between
            # the two), a restart replays it from the start, and the markers drop what was
            # written; the other way round, a stale offset would skip part of a later spool.
            self.offset_path.unlink(missing_ok=True)
            temp.unlink(missing_ok=True)
            self.path.unlink(missing_ok=True)
            self._offset = 0
            return
        try:
            temp.write_text(str(offset))
            os.replace(temp, self.offset_path)
        except OSError:
            with contextlib.suppress(OSError):
                temp.unlink(missing_ok=True)
            raise


def _write_all(fd: int, data: bytes) -> None:
    """``os.write`` until all of ``data`` is written: a write may take only part of it (the
    last blocks of a nearly full disk), and only the next one reports the error."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[written:]
