"""Audit: docs/design.md §1's layering — the engine's library code never imports ``bridge``;
only the composition root (``engine/cli.py``) wires it in."""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parent.parent / "engine"
COMPOSITION_ROOT = ENGINE / "cli.py"


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def _imports_bridge(path: Path) -> bool:
    return any(m == "bridge" or m.startswith("bridge.") for m in _imported_modules(path))


def test_the_scan_sees_the_composition_roots_bridge_imports() -> None:
    # guards the scan itself: cli.py does import bridge (lazily, inside functions)
    assert _imports_bridge(COMPOSITION_ROOT)


def test_engine_library_code_never_imports_bridge() -> None:
    offenders = sorted(
        str(p.relative_to(ENGINE.parent))
        for p in ENGINE.rglob("*.py")
        if p != COMPOSITION_ROOT and _imports_bridge(p)
    )
    assert offenders == []
