"""What the command line says to a person when something is wrong, and how it exits.

Exit codes: 0 success; 1 the gate's verdict is FAIL (``gate``, ``report --policy``, ``demo``);
2 bad usage, bad config or a port that cannot be bound; 3 the gate's verdict is INCONCLUSIVE;
4 the campaign has no pairs in that Redis.

An error is one line on stderr, ``error: <message>``, where the message names the key or flag,
the bad value and what was expected. ``error:`` is red on a terminal; anywhere else (a pipe, a
file, a CI log) the line is plain text. Messages are never read as rich markup, so a value in
brackets is printed as it is and nothing like ``[red]`` ever shows.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import typer
from rich.console import Console
from rich.text import Text

from proxy import __version__

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_NO_SUCH_CAMPAIGN",
    "EXIT_USAGE",
    "LOG_LEVELS",
    "check_log_level",
    "err",
    "fail",
    "print_version",
]

EXIT_USAGE = 2
EXIT_NO_SUCH_CAMPAIGN = 4
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command stopped by Ctrl-C
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

# soft_wrap: a message stays one line however long, so a log or a test sees it whole.
err = Console(stderr=True, soft_wrap=True, highlight=False)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print ``error: <message>`` on stderr and exit with ``code``."""
    err.print(Text.assemble(("error:", "bold red"), " ", message))
    raise typer.Exit(code)


def print_version(value: bool) -> None:
    """The ``--version`` callback: ``darklaunch <version>`` on stdout, then exit 0."""
    if value:
        sys.stdout.write(f"darklaunch {__version__}\n")
        raise typer.Exit()


def check_log_level(value: str) -> str:
    """The ``--log-level`` callback: one of :data:`LOG_LEVELS`, in any case, or exit 2."""
    level = value.upper()
    if level not in LOG_LEVELS:
        fail(f"--log-level {value!r}; expected one of {', '.join(LOG_LEVELS)}")
    return level
