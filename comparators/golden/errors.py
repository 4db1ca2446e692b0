"""What can go wrong with a golden set, as a small tree the command line translates at its
boundary (exit 2 for a usage or file problem, exit 1 for a set whose hash does not match)::

    GoldenError  (ValueError)   every golden-set problem; the message says what and where
    ├── NoVersion               the folder holds no complete version, or not the one asked for
    ├── BadSetFile              a manifest or an item line that does not parse (file, line)
    ├── HashMismatch            items file's SHA-256 is not the manifest's: an edited item
    ├── VersionTaken            another writer created the version directory first
    └── ImportRowError          a row of an import file that cannot become an item (file, line)

Each carries the fields it names, so a caller (``darklaunch replay``) can act on them without
parsing the message.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "BadSetFile",
    "GoldenError",
    "HashMismatch",
    "ImportRowError",
    "NoVersion",
    "VersionTaken",
]


class GoldenError(ValueError):
    """A golden-set problem; ``str()`` is one line naming the file, the value and what was
    expected."""


class NoVersion(GoldenError):
    """No complete version (a ``v<N>/`` with its ``manifest.json``) where one was asked for."""

    def __init__(self, root: Path, version: str | None) -> None:
        self.root = root
        self.version = version
        what = "no complete version" if version is None else f"no complete version {version}"
        super().__init__(
            f"{root}: {what} (a v<N>/ folder with its manifest.json); expected a folder "
            "written by darklaunch export or darklaunch golden import"
        )


class BadSetFile(GoldenError):
    """A manifest or items file that is not what darklaunch wrote."""

    def __init__(self, path: Path, problem: str, line: int | None = None) -> None:
        self.path = path
        self.line = line
        self.problem = problem
        where = f"{path}" if line is None else f"{path}:{line}"
        super().__init__(f"{where}: {problem}")


class HashMismatch(GoldenError):
    """The items file's bytes do not hash to the manifest's ``sha256``: an item was edited
    (or the file truncated) after the version was written."""

    def __init__(self, path: Path, expected: str, actual: str) -> None:
        self.path = path
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"{path}: sha256 {actual} does not match the manifest's {expected}; "
            "an edited item? expected the file exactly as written (versions are never edited: "
            "import or export a new one)"
        )


class VersionTaken(GoldenError):
    """Another writer created the version directory between choosing its number and making
    it; nothing was written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(
            f"{path} was created by someone else while writing (a concurrent export or "
            "import?); nothing written, run it again"
        )


class ImportRowError(GoldenError):
    """A row of an import file that cannot become an item; nothing of the file is written."""

    def __init__(self, path: Path, line: int, problem: str) -> None:
        self.path = path
        self.line = line
        self.problem = problem
        super().__init__(f"{path}:{line}: {problem}; nothing written")
