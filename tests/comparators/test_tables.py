"""One table, three renderings: a terminal, a log, and Markdown."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from rich.console import Console
from rich.text import Text

from comparators.tables import LOG_WIDTH, Grid, emit, output_console, to_markdown, to_rich


def _grid() -> Grid:
    grid = Grid(
        "release gate (95% one-sided bounds)",
        ("candidate", "status", "method"),
        keep_whole=frozenset({"candidate", "status"}),
        right=frozenset({"method"}),
    )
    grid.add_row("candidate-a", Text("INCONCLUSIVE", style="yellow"), "Newcombe | bounds")
    return grid


def test_a_narrow_terminal_wraps_between_words_never_inside_a_name() -> None:
    console = Console(record=True, width=40, force_terminal=True)
    console.print(to_rich(_grid()))
    text = console.export_text()
    assert "candidate-a" in text
    assert "INCONCLUSIVE" in text
    assert text.splitlines()[0] == "release gate (95% one-sided bounds)"


def test_a_log_gets_a_wide_console_without_colour_codes() -> None:
    log = output_console(io.StringIO())
    assert (log.width, log.is_terminal, log.color_system) == (LOG_WIDTH, False, None)


def test_markdown_escapes_cells_and_aligns_columns() -> None:
    assert to_markdown(_grid()) == (
        "**release gate (95% one-sided bounds)**\n\n"
        "| candidate | status | method |\n"
        "| --- | --- | ---: |\n"
        "| candidate-a | INCONCLUSIVE | Newcombe \\| bounds |\n\n"
    )


def test_markdown_cells_hold_html_as_text_never_as_markup() -> None:
    # CommonMark passes raw HTML through: a viewer that allows it would run a cell's script.
    grid = Grid("<b>answers</b>", ("<i>candidate</i>", "answer"))
    grid.add_row(Text("<script>alert(1)</script>"), "<img src=x onerror=alert(2)>")
    grid.add_row("a & b", "1 &lt; 2\nnext line")
    grid.add_row("one\r| injected | row |\rtwo", "x\r\ny")  # a bare CR ends a row too
    grid.add_row("use `a<b` here", "``")
    markdown = to_markdown(grid)
    assert "| one<br>\\| injected \\| row \\|<br>two | x<br>y |\n" in markdown
    assert "| <i>" not in markdown
    assert "| &lt;script&gt;alert(1)&lt;/script&gt; | &lt;img src=x onerror=alert(2)&gt; |\n" in (
        markdown
    )
    assert "| a &amp; b | 1 &amp;lt; 2<br>next line |\n" in markdown

    html = MarkdownIt("commonmark").enable("table").render(markdown)
    assert "<table>" in html
    for tag in ("<script", "<img", "<i>", "<b>"):
        assert tag not in html
    assert "<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>" in html  # shown as the text it was
    assert "<td>&lt;img src=x onerror=alert(2)&gt;</td>" in html
    assert "<th>&lt;i&gt;candidate&lt;/i&gt;</th>" in html
    assert "<td>a &amp; b</td>" in html
    assert "<td>1 &amp;lt; 2<br>next line</td>" in html  # the line break still breaks
    # No code span forms, so what was between backticks reads as it was written.
    assert "<td>use `a&lt;b` here</td>" in html
    assert "<code>" not in html
    assert html.count("<tr>") == 5  # the header and four rows: nothing injected


def test_a_row_of_the_wrong_length_names_the_table_and_its_columns() -> None:
    with pytest.raises(ValueError, match=r"row of 'release gate .*': got 2 cells; expected 3"):
        _grid().add_row("a", "b")


def test_emit_writes_a_file_at_log_width(tmp_path: Path) -> None:
    grid = Grid("t", ("a", "b"))
    grid.add_row("x" * 150, "y" * 60)
    out = tmp_path / "table.txt"
    emit(out, None, to_rich(grid))
    rows = [line for line in out.read_text().splitlines() if line.startswith("│")]
    assert rows == [f"│ {'x' * 150} │ {'y' * 60} │"]
