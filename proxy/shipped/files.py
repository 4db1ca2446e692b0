"""The files darklaunch ships as package data, and writing them out for a user to edit.

They are package data, not files beside the source tree, because the commands that need them
run from a wheel installed anywhere: ``darklaunch gate`` needs its default policy and the cost
comparator its default price table from any working directory, and a path such as
``config/gate.yaml`` exists only in a checkout. ``config/`` in the source tree holds symlinks
to these files, so each has one source of truth.
"""

from __future__ import annotations

import atexit
import functools
from contextlib import ExitStack
from importlib.resources import as_file, files
from importlib.resources.abc import Traversable
from pathlib import Path

__all__ = ["SHIPPED", "read_shipped", "shipped_path", "write_shipped"]

SHIPPED: dict[str, str] = {
    "darklaunch.yaml": "a starter config: every section, with comments",
    "gate.yaml": "the release-gate policy `darklaunch gate` uses without --policy",
    "prices.json": "the price table the cost comparator uses without prices.file",
    "grafana/darklaunch.json": "the Grafana dashboard",
    "prometheus/alerts.yml": "the Prometheus rollback alert rules",
    "prometheus/prometheus.yml": "a Prometheus scrape config for one host, loading alerts.yml",
    "judge-prompt.txt": "the LLM judge's prompt template, used without judge.prompt",
}
"""Shipped file (its path under ``data/``, as ``darklaunch init`` writes it) -> what it is."""

_PACKAGE = "proxy.shipped"
# Temporary copies made for a zipped install live until the process exits.
_copies = ExitStack()
atexit.register(_copies.close)


def _resource(name: str) -> Traversable:
    if name not in SHIPPED:
        raise ValueError(
            f"shipped file {name!r}: not shipped; expected one of: {', '.join(SHIPPED)}"
        )
    node = files(_PACKAGE) / "data"
    for part in name.split("/"):
        node = node / part
    return node


def read_shipped(name: str) -> bytes:
    """The bytes of one shipped file."""
    return _resource(name).read_bytes()


@functools.cache
def shipped_path(name: str) -> Path:
    """A file-system path to a shipped file, for loaders that take a path (the gate policy,
    the price table), so their error messages name a real file. In an ordinary install this
    is the file in site-packages; from a zipped install, a copy kept until the process exits."""
    return _copies.enter_context(as_file(_resource(name)))


def write_shipped(folder: Path, *, overwrite: bool = False) -> list[Path]:
    """Write every shipped file under ``folder``, keeping their subfolders, and return the
    paths written. Without ``overwrite``, nothing is written when any file already exists: a
    half-refreshed set (a new dashboard, an old alert file) would be worse than none."""
    targets = {name: folder / name for name in SHIPPED}
    existing = [str(path) for path in targets.values() if path.exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"{', '.join(existing)}: already exist; expected a folder without them "
            "(or --force to overwrite)"
        )
    for name, path in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(read_shipped(name))
    return list(targets.values())
