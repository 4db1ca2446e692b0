"""The optional extras of the darklaunch distribution, and the hint for a missing one.

``pip install darklaunch`` is the proxy alone (``serve``, ``check-config``, ``init``): the
data plane's dependencies only, so a proxy install or image carries none of numpy, scipy and
matplotlib (about 240 MB that ``serve`` never loads). ``pip install 'darklaunch[analysis]'``
adds what the analysis plane needs: ``compare``, ``report``, ``gate``, ``export`` and the demo
(whose client is the official ``openai`` SDK). A command that needs the extra checks for it
first, so that a slim install answers with one line naming the extra and the pip command,
instead of a ``ModuleNotFoundError`` traceback from deep inside an import.

What the extra holds is read from the installed distribution's metadata, so ``pyproject.toml``
stays the one list. A source tree that is not installed has no metadata: nothing is checked.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import metadata

from packaging.requirements import Requirement

__all__ = ["ANALYSIS", "DISTRIBUTION", "extra_hint", "missing_requirements", "unmet"]

DISTRIBUTION = "darklaunch"
ANALYSIS = "analysis"
"""The extra of the analysis plane: scoring, report, gate, export, demo."""


def _installed(name: str) -> bool:
    try:
        metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def unmet(requires: Iterable[str], extra: str, distribution: str = DISTRIBUTION) -> list[str]:
    """The distributions ``extra`` requires (``Requires-Dist`` lines) that are not installed.

    A line belongs to the extra when its marker holds with that extra and fails without it, so
    a plain platform marker does not pull a core dependency in. A line naming the distribution
    itself (``darklaunch[analysis]`` inside ``dev``) is followed into its own extras.
    """
    lines = list(requires)
    missing: list[str] = []
    for line in lines:
        requirement = Requirement(line)
        marker = requirement.marker
        if marker is None or not marker.evaluate({"extra": extra}):
            continue
        if marker.evaluate({"extra": ""}):
            continue
        if requirement.name == distribution:
            for inner in sorted(requirement.extras - {extra}):
                missing += [m for m in unmet(lines, inner, distribution) if m not in missing]
        elif not _installed(requirement.name) and requirement.name not in missing:
            missing.append(requirement.name)
    return missing


def missing_requirements(extra: str, distribution: str = DISTRIBUTION) -> list[str]:
    """What ``extra`` of the installed ``distribution`` still needs; empty when it is complete
    or when the distribution is not installed (a bare source tree)."""
    try:
        requires = metadata.requires(distribution) or []
    except metadata.PackageNotFoundError:
        return []
    return unmet(requires, extra, distribution)


def extra_hint(command: str, extra: str = ANALYSIS) -> str | None:
    """One line telling the user which extra ``darklaunch <command>`` needs and how to get
    it (the CLI prints it after ``error:``), or ``None`` when it is installed."""
    missing = missing_requirements(extra)
    if not missing:
        return None
    return (
        f"darklaunch {command} needs the '{extra}' extra, which is not installed "
        f"(missing: {', '.join(missing)}); install it with: "
        f"pip install 'darklaunch[{extra}]'"
    )
