"""The report's and the gate's tables, built once and rendered three ways.

A :class:`Grid` is a table as plain data: a title, column names and rows of text. It becomes

* a rich table (:func:`to_rich`) for a terminal. Cells wrap between words, never inside one:
  the columns that name things (candidate, check, status, metric) never wrap at all;
* the same rich table printed on :func:`output_console`, which is as wide as the terminal, or
  :data:`LOG_WIDTH` columns when the output is a file or a pipe (CI logs), so a table in a log
  keeps one line per row instead of ``candidat e`` and one word per line;
* a Markdown table (:func:`to_markdown`), which is what a CI job posts as a pull-request
  comment.
"""

from __future__ import annotations

import html
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

__all__ = [
    "LOG_WIDTH",
    "Cell",
    "Grid",
    "emit",
    "markdown_text",
    "output_console",
    "to_markdown",
    "to_rich",
]

# Wide enough for the widest table (the gate's, with its method column) on one line per row.
LOG_WIDTH = 240

Cell = str | Text


@dataclass
class Grid:
    """A table as data. ``keep_whole`` columns never wrap; ``right`` ones align right."""

    title: str
    columns: tuple[str, ...]
    rows: list[tuple[Cell, ...]] = field(default_factory=list)
    keep_whole: frozenset[str] = frozenset()
    right: frozenset[str] = frozenset()
    bold_first: bool = False

    def add_row(self, *cells: Cell) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(
                f"row of {self.title!r}: got {len(cells)} cells; expected {len(self.columns)}"
                f" ({', '.join(self.columns)})"
            )
        self.rows.append(cells)


def to_rich(grid: Grid) -> RenderableType:
    """The title on a line of its own (a rich table title would wrap to the table's width and
    be padded to it), then the table."""
    table = Table()
    for index, name in enumerate(grid.columns):
        table.add_column(
            name,
            justify="right" if name in grid.right else "left",
            no_wrap=name in grid.keep_whole,
            overflow="fold",  # only a single word wider than its column is ever cut
            style="bold" if grid.bold_first and index == 0 else None,
        )
    for row in grid.rows:
        table.add_row(*row)
    return Group(Text(grid.title, style="bold"), table)


def _md_cell(cell: Cell) -> str:
    """``cell`` as the text of one Markdown table cell.

    Cells hold model output, and a viewer that renders Markdown may let raw HTML through, so
    ``&``, ``<`` and ``>`` become entities: ``<script>`` shows as text, never runs. Line breaks
    (``\\n``, ``\\r\\n`` and a bare ``\\r``, each of which ends a table row) become ``<br>``
    only after that, so the one tag a cell can hold is the one put there here. A backtick
    becomes ``&#96;`` too: inside a code span entities show as written, so ``a<b`` between
    backticks would read ``a&lt;b``."""
    text = cell.plain if isinstance(cell, Text) else cell
    text = html.escape(text, quote=False).replace("`", "&#96;")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>").strip()


def markdown_text(text: str) -> str:
    """``text`` with the characters Markdown would act on escaped, for a line of prose."""
    for char in "\\`*_[]<>|#":
        text = text.replace(char, "\\" + char)
    return text


def to_markdown(grid: Grid) -> str:
    """A GitHub-flavoured Markdown table under a bold title, ending with a blank line."""
    align = ["---:" if name in grid.right else "---" for name in grid.columns]
    lines = [
        f"**{markdown_text(grid.title)}**",
        "",
        "| " + " | ".join(_md_cell(name) for name in grid.columns) + " |",
        "| " + " | ".join(align) + " |",
    ]
    lines += ["| " + " | ".join(_md_cell(cell) for cell in row) + " |" for row in grid.rows]
    return "\n".join(lines) + "\n\n"


def output_console(file: TextIO | None = None) -> Console:
    """A console for tables: the terminal's width on a terminal; :data:`LOG_WIDTH` columns and
    no colour codes when writing to a file or a pipe."""
    console = Console(file=file)
    if console.is_terminal:
        return console
    return Console(file=file, width=LOG_WIDTH)


def emit(out: Path | None, document: str | None, *renderables: RenderableType) -> None:
    """Write ``document`` (JSON, HTML, Markdown) as it is, or print ``renderables`` on a console
    fit for where they go; to the file ``out``, or to stdout."""
    if document is not None:
        if out is None:
            sys.stdout.write(document)
        else:
            out.write_text(document, encoding="utf-8")
        return
    if out is None:
        console = output_console()
        for renderable in renderables:
            console.print(renderable)
        return
    with out.open("w", encoding="utf-8") as handle:
        console = output_console(handle)
        for renderable in renderables:
            console.print(renderable)
