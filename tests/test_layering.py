"""The house rules, read from the source with ``ast``: which floor may import which, no import
circles, small modules and folders.

Imports are collected wherever they stand (module level, inside functions, under
``TYPE_CHECKING``), because a lazy import is still a dependency and a ``TYPE_CHECKING`` one
still ties two modules together for a reader.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("proxy", "comparators", "loadtests")
# The only modules of the data plane that reach into the analysis plane: they wire commands
# together, and do so lazily inside the command that needs it.
COMPOSITION_ROOTS = {
    "proxy.cli",
    "proxy.cli.analysis",
    "proxy.cli.app",
    "proxy.cli.lifecycle",
    "proxy.cli.replaying",
    "proxy.cli.review",
    "proxy.cli.rollout",
    "proxy.cli.serve",
    "proxy.cli.setup",
    "proxy.sim.demo",
    "proxy.sim.rollout_demo",
    "proxy.__main__",
}
MAX_MODULE_LINES = 450
MAX_FOLDER_MODULES = 15


@dataclass
class Module:
    name: str
    path: Path
    lines: int
    # Imported module -> is the import at module level (not in a function or TYPE_CHECKING)?
    imports: dict[str, bool] = field(default_factory=dict)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _deferred(node: ast.AST) -> bool:
    """A function body or a ``TYPE_CHECKING`` block: imports there do not run on import."""
    if isinstance(node, ast.If):
        return "TYPE_CHECKING" in ast.unparse(node.test)
    return isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)


def _walk(node: ast.AST, eager: bool) -> Iterator[tuple[ast.AST, bool]]:
    """Every node with whether it runs at import time (outside functions and TYPE_CHECKING)."""
    for child in ast.iter_child_nodes(node):
        inner = eager and not _deferred(child)
        yield child, inner
        yield from _walk(child, inner)


def _load() -> dict[str, Module]:
    modules: dict[str, Module] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            source = path.read_text()
            modules[_module_name(path)] = Module(_module_name(path), path, len(source.splitlines()))
    for module in modules.values():
        tree = ast.parse(module.path.read_text())
        package = (
            module.name if module.path.name == "__init__.py" else module.name.rpartition(".")[0]
        )
        for node, eager in _walk(tree, True):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                # ``from pkg import sub`` depends on the submodule when ``sub`` is one.
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                    for a in node.names
                ]
            for target in targets:
                if target.split(".")[0] in PACKAGES and target != module.name:
                    module.imports[target] = module.imports.get(target, False) or eager
    return modules


MODULES = _load()


def _cycles(modules: dict[str, Module]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        on_stack.add(name)
        for target in modules[name].imports:
            if target not in modules:
                continue
            if target not in index:
                visit(target)
                low[name] = min(low[name], low[target])
            elif target in on_stack:
                low[name] = min(low[name], index[target])
        if low[name] == index[name]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == name:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for name in modules:
        if name not in index:
            visit(name)
    return found


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _violations(source: str, allowed: tuple[str, ...]) -> list[str]:
    """Imports of first-party modules by ``source``'s modules that ``allowed`` does not cover."""
    return sorted(
        f"{module.name} -> {target}"
        for module in MODULES.values()
        if _within(module.name, source)
        for target in module.imports
        if not any(_within(target, prefix) for prefix in (source, *allowed))
    )


def test_no_import_circles() -> None:
    assert _cycles(MODULES) == []


def test_the_circle_check_finds_a_circle() -> None:
    a = Module("proxy.a", ROOT, 1, {"proxy.b": True})
    b = Module("proxy.b", ROOT, 1, {"proxy.c": False})
    c = Module("proxy.c", ROOT, 1, {"proxy.a": True, "proxy.d": True})
    d = Module("proxy.d", ROOT, 1)
    assert _cycles({m.name: m for m in (a, b, c, d)}) == [["proxy.a", "proxy.b", "proxy.c"]]


def test_the_http_layer_stands_on_nothing_of_darklaunch() -> None:
    """``proxy/http`` is the only place that speaks bytes; it knows no config, record or plane."""
    assert _violations("proxy.http", ()) == []


def test_config_stands_on_nothing_of_darklaunch() -> None:
    assert _violations("proxy.config", ()) == []


def test_recording_stands_only_on_the_floors_below_it() -> None:
    below = ("proxy.config", "proxy.metrics", "proxy.tasks", "proxy.stopping")
    assert _violations("proxy.recording", below) == []


def test_the_simulator_stands_apart_from_the_proxy() -> None:
    """The simulated model servers are a stand-in for upstreams: they share no code with the
    proxy they are tested against, except the package version (the demo wires both)."""
    problems = [
        v
        for v in _violations("proxy.sim", ())
        if not v.startswith(("proxy.sim.demo ->", "proxy.sim.rollout_demo ->"))
        and not v.endswith(" -> proxy")
    ]
    assert problems == []


def test_the_analysis_plane_imports_only_the_contracts_of_the_data_plane() -> None:
    contracts = (
        "proxy.config",
        "proxy.recording.schema",
        "proxy.recording.keys",
        "proxy.recording.shards",  # which streams of a campaign exist: part of the key contract
        "proxy.recording.setup",  # opens the Redis a config names, embedded or not
        "proxy.recording.embedded_redis",
        "proxy.shipped.files",  # the shipped default price table
        "proxy.rollout.state",  # the staged rollout's states and transitions
        "proxy.rollout.store",  # ... stored by compare and set, which the controller acts through
        "proxy.stopping",  # waiting for a stop without losing a cancellation: asyncio, no plane
    )
    assert _violations("comparators", contracts) == []


def test_the_data_plane_never_imports_the_analysis_plane() -> None:
    leaks = [
        f"{module.name} -> {target}"
        for module in MODULES.values()
        if _within(module.name, "proxy")
        for target, eager in module.imports.items()
        if _within(target, "comparators") and (eager or module.name not in COMPOSITION_ROOTS)
    ]
    assert leaks == []


def test_composition_roots_import_comparators_only_when_a_command_runs() -> None:
    code = "import sys, proxy.cli, proxy.sim.demo; assert 'comparators' not in sys.modules"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("package", ["proxy", "comparators"])
def test_modules_stay_small(package: str) -> None:
    big = [
        f"{m.name} ({m.lines} lines)"
        for m in MODULES.values()
        if _within(m.name, package) and m.lines > MAX_MODULE_LINES
    ]
    assert big == []


@pytest.mark.parametrize("package", ["proxy", "comparators"])
def test_folders_stay_small(package: str) -> None:
    crowded = []
    for folder in [ROOT / package, *(p for p in (ROOT / package).rglob("*") if p.is_dir())]:
        modules = [p for p in folder.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
        if len(modules) > MAX_FOLDER_MODULES:
            crowded.append(f"{folder.relative_to(ROOT)} ({len(modules)} modules)")
    assert crowded == []
