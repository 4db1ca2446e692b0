"""``darklaunch golden``: import prompts as a version, diff two versions, summarise or verify.

The sub-app is registered on the ``darklaunch`` command by :mod:`proxy.cli`, which reads this
module only when a ``golden`` command runs. Only typer and the standard library load with it;
each command imports the rest when it runs, so ``darklaunch golden --help`` stays fast.

Exit codes: 0 success; 1 a version's items file does not hash to its manifest (an edited
item); 2 bad usage or a file that cannot be read or parsed, with one line ``error: <message>``
on stderr naming the file, the line or key, the value and what was expected.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:
    from comparators.golden.store import GoldenVersion

__all__ = ["EXIT_MISMATCH", "EXIT_USAGE", "golden_app"]

EXIT_MISMATCH = 1
EXIT_USAGE = 2

golden_app = typer.Typer(
    name="golden",
    help="Golden sets: import prompts as a version, diff versions, summarise, verify.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

Directory = Annotated[Path, typer.Argument(help="The golden-set folder (holding v1/, v2/ ...).")]
Version = Annotated[
    str | None, typer.Argument(help="A version, v<N> or <N>; the latest by default.")
]


def _error(message: str) -> None:
    """``error: <message>`` on stderr as :func:`proxy.terminal.fail` writes it (one line, red
    only on a terminal, never read as markup); the analysis plane does not import the data
    plane's terminal module."""
    from rich.console import Console
    from rich.text import Text

    Console(stderr=True, soft_wrap=True, highlight=False).print(
        Text.assemble(("error:", "bold red"), " ", message)
    )


def _fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    _error(message)
    raise typer.Exit(code)


def _check_format(fmt: str, allowed: tuple[str, ...]) -> None:
    if fmt not in allowed:
        _fail(f"--format {fmt!r}; expected one of {', '.join(allowed)}")


def _load(directory: Path, version: str | None) -> GoldenVersion:
    """A version, hash-checked: an edited item exits 1, anything else wrong exits 2."""
    from comparators.golden.errors import GoldenError, HashMismatch
    from comparators.golden.store import load_version

    try:
        return load_version(directory, version)
    except HashMismatch as exc:
        _fail(str(exc), EXIT_MISMATCH)
    except GoldenError as exc:
        _fail(str(exc))


@golden_app.command("import", short_help="Read prompts (JSONL or CSV) as a new version.")
def import_file(
    file: Annotated[Path, typer.Argument(help="JSONL or CSV file of prompts.")],
    out: Annotated[Path, typer.Option(help="Golden-set folder; a new version is added.")],
    route: Annotated[str, typer.Option(help="Route the requests go to.")] = (
        "/v1/chat/completions"
    ),
    model: Annotated[
        str | None, typer.Option(help="The model of each request built from a prompt.")
    ] = None,
    system: Annotated[
        str | None, typer.Option(help="System message for prompts without one of their own.")
    ] = None,
    new: Annotated[
        bool, typer.Option("--new", help="Start a fresh lineage: no parent version.")
    ] = False,
    fmt: Annotated[
        str | None, typer.Option("--format", help="jsonl or csv; by default, from the suffix.")
    ] = None,
) -> None:
    """Read FILE's rows as items and write them as a new version under --out: the latest
    version's items plus these (a row with an id already there replaces it). A bad row is an
    error naming the line, and nothing is written."""
    from comparators.golden.errors import GoldenError, HashMismatch
    from comparators.golden.importer import ImportOptions, read_items
    from comparators.golden.model import VersionProvenance
    from comparators.golden.store import write_version

    try:
        items = read_items(file, ImportOptions(route, model, system), fmt=fmt)
        provenance = VersionProvenance(source="import", file=str(file), rows=len(items))
        manifest = write_version(out, items, provenance, new=new)
    except HashMismatch as exc:
        _fail(f"cannot build on the latest version: {exc}", EXIT_MISMATCH)
    except GoldenError as exc:
        _fail(str(exc))
    parent = f"parent {manifest.parent}" if manifest.parent else "no parent"
    sys.stdout.write(
        f"imported {len(items)} rows from {file} as {out / manifest.version}: "
        f"{manifest.count} items ({parent}: {manifest.added} added, {manifest.replaced} "
        f"replaced), sha256 {manifest.sha256[:12]}\n"
    )


@golden_app.command(short_help="Items added, removed, changed or relabelled between versions.")
def diff(
    directory: Directory,
    a: Annotated[str, typer.Argument(help="The earlier version, e.g. v1.")],
    b: Annotated[str, typer.Argument(help="The later version, e.g. v2.")],
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """The items of version B that are new, gone, changed (what is sent) or relabelled (the
    reference answer or label) against version A, with their ids."""
    from comparators.golden.diff import diff_grid, diff_items
    from comparators.tables import emit, to_rich

    _check_format(fmt, ("text", "json"))
    first, second = _load(directory, a), _load(directory, b)
    result = diff_items(first.manifest.version, first.items, second.manifest.version, second.items)
    if fmt == "json":
        emit(None, result.model_dump_json(indent=2) + "\n")
    else:
        emit(None, None, to_rich(diff_grid(result)))


@golden_app.command(short_help="A version's counts per segment, answers and provenance.")
def stats(
    directory: Directory,
    version: Version = None,
    fmt: Annotated[str, typer.Option("--format", help="text, json or markdown.")] = "text",
) -> None:
    """How many items a version holds per segment, how many have a reference or recorded
    answer, where they came from, and whether its hash matches (exit 1 if not)."""
    from comparators.golden.stats import stats_grids, stats_markdown, version_stats
    from comparators.tables import emit, to_rich

    _check_format(fmt, ("text", "json", "markdown"))
    summary = version_stats(_load(directory, version))
    if fmt == "json":
        emit(None, summary.model_dump_json(indent=2) + "\n")
    elif fmt == "markdown":
        emit(None, stats_markdown(summary))
    else:
        emit(None, None, *(to_rich(grid) for grid in stats_grids(summary)))


@golden_app.command(short_help="Check versions' hashes; exit 1 on any mismatch.")
def verify(
    directory: Directory,
    version: Version = None,
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """Hash the items file of VERSION (every complete version by default) against its
    manifest. Exit 1 if any differs: an item was edited after the version was written."""
    from comparators.golden.errors import GoldenError, HashMismatch, NoVersion
    from comparators.golden.store import list_versions, parse_version, verify_version
    from comparators.tables import Grid, emit, to_rich

    _check_format(fmt, ("text", "json"))
    try:
        names = [parse_version(version)] if version is not None else list_versions(directory)
    except GoldenError as exc:
        _fail(str(exc))
    if not names:
        _fail(str(NoVersion(directory, None)))
    grid = Grid(f"golden set {directory}", ("version", "status", "sha256"))
    rows: list[dict[str, str]] = []
    problems: list[str] = []
    for name in names:
        try:
            check = verify_version(directory, name)
        except NoVersion as exc:
            _fail(str(exc))
        except GoldenError as exc:
            rows.append({"version": name, "status": "unreadable", "sha256": ""})
            problems.append(str(exc))
            continue
        status = "ok" if check.ok else "MISMATCH"
        rows.append({"version": check.version, "status": status, "sha256": check.actual})
        if not check.ok:
            problems.append(str(HashMismatch(check.path, check.expected, check.actual)))
    for row in rows:
        grid.add_row(row["version"], row["status"], row["sha256"])
    if fmt == "json":
        emit(None, json.dumps(rows, indent=2) + "\n")
    else:
        emit(None, None, to_rich(grid))
    if problems:
        for problem in problems:
            _error(problem)
        raise typer.Exit(EXIT_MISMATCH)
