"""The config package's submodules import each other directly, never the package's public
surface: ``proxy/config/__init__.py`` imports all of them, so importing it back is a circle."""

from __future__ import annotations

import ast
from pathlib import Path

import proxy.config

PACKAGE = Path(proxy.config.__file__).parent


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_submodules_never_import_the_package_surface() -> None:
    submodules = sorted(p for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert len(submodules) >= 8
    for path in submodules:
        assert "proxy.config" not in _imported_modules(path), path.name


def test_analysis_contract_depends_only_on_the_section_base() -> None:
    ours = {m for m in _imported_modules(PACKAGE / "analysis.py") if m.startswith("proxy")}
    assert ours == {"proxy.config.base"}
