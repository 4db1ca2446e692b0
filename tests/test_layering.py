"""The data plane never imports the analysis plane; only the composition roots (the CLI and
the demo) reach across, and they do so lazily inside their commands."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import proxy

COMPOSITION_ROOTS = {"proxy.cli", "proxy.sim.demo", "proxy.__main__"}


def test_proxy_modules_do_not_import_comparators() -> None:
    modules = sorted(
        f"proxy.{info.name}"
        for info in pkgutil.iter_modules(proxy.__path__)
        if f"proxy.{info.name}" not in COMPOSITION_ROOTS
    )
    assert len(modules) > 15
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "leaks = sorted(m for m in sys.modules if m.split('.')[0] == 'comparators')\n"
        "assert not leaks, leaks\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_composition_roots_import_comparators_only_lazily() -> None:
    code = "import sys, proxy.cli, proxy.sim.demo; assert 'comparators' not in sys.modules"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
