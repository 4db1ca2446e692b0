"""The Dockerfile read as data: its stages and the instructions the tests reproduce without a
Docker engine (the files a stage copies, its ENV, WORKDIR, ENTRYPOINT and HEALTHCHECK)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"


def stages() -> dict[str, str]:
    """Stage name -> its instructions (comments left out, continuation lines joined)."""
    lines = [line for line in DOCKERFILE.read_text().splitlines() if not line.startswith("#")]
    text = re.sub(r"\\\n\s*", " ", "\n".join(lines) + "\n")
    found: dict[str, str] = {}
    for block in re.split(r"^FROM ", text, flags=re.MULTILINE)[1:]:
        header = block.splitlines()[0]
        name = re.search(r"\bAS (\S+)", header)
        assert name is not None, f"Dockerfile stage {header!r}: expected a name (FROM ... AS x)"
        found[name.group(1)] = block
    return found


def instructions(stage: str, keyword: str) -> list[str]:
    """The arguments of every ``keyword`` instruction of ``stage``, in order."""
    return re.findall(rf"^{keyword} (.+)$", stages()[stage], flags=re.MULTILINE)


def copies(stage: str) -> list[tuple[list[str], str]]:
    """(sources in the build context, destination) of each ``COPY`` from the context."""
    found = []
    for arguments in instructions(stage, "COPY"):
        if arguments.startswith("--from"):
            continue
        *sources, destination = arguments.split()
        found.append((sources, destination))
    return found


def copy_into(stage: str, root: Path, workdir: Path) -> list[Path]:
    """Do what the ``COPY`` instructions of ``stage`` do, with ``root`` standing for ``/`` and
    ``workdir`` for the WORKDIR relative destinations start from; returns what was placed.
    As in Docker: a folder's contents go into the destination; a file goes into a destination
    ending in ``/`` (or one of several sources), else becomes it."""
    placed = []
    for sources, destination in copies(stage):
        target = (
            root / destination.lstrip("/") if destination.startswith("/") else workdir / destination
        )
        for source in sources:
            origin = ROOT / source
            if origin.is_dir():
                shutil.copytree(
                    origin, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
                )
                placed.append(target)
                continue
            into_folder = destination.endswith("/") or len(sources) > 1
            path = target / origin.name if into_folder else target
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, path)
            placed.append(path)
    return placed


def env(stage: str) -> dict[str, str]:
    """The ``ENV key=value ...`` settings of ``stage``."""
    return dict(
        item.split("=", 1) for line in instructions(stage, "ENV") for item in shlex.split(line)
    )


def entrypoint(stage: str) -> list[str]:
    (line,) = instructions(stage, "ENTRYPOINT")
    command: list[str] = json.loads(line)
    return command


def healthcheck_command(stage: str) -> str:
    """The shell command of ``HEALTHCHECK [options] CMD <command>``."""
    (line,) = instructions(stage, "HEALTHCHECK")
    return line.split(" CMD ", 1)[1]
