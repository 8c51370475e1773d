"""Audit: the layering of README's Layout table, checked on every import.

Inside ``engine/`` a module may import only modules of its own layer or of lower ones:
errors (base) → market → observer → indicators → state → strategy → run → cli. The
observer interface sits just above market (it names ``Bar``) and below the indicator API
that reports to it. ``engine`` never imports ``bridge``, except the composition root
(``engine/cli.py``), and only lazily (inside a function); ``bridge`` never imports the
command line. Every import is seen: module level, inside functions, under
``TYPE_CHECKING``, relative ones resolved.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENGINE = ROOT / "engine"
BRIDGE = ROOT / "bridge"
COMPOSITION_ROOT = ENGINE / "cli.py"

#: Rank of each part of the engine: an import must not go to a higher rank.
RANKS = {
    "engine": 0,  # the package itself: __version__ and the native-core choice
    "engine.errors": 0,
    "engine.native": 0,  # picks the compiled core or the sources (engine/__init__ runs it)
    "engine.bounds": 0,  # the limits a strategy is held to (state, strategy and run read them)
    "engine.market": 1,
    "engine.observer": 1.5,
    "engine.indicators": 2,
    "engine.state": 3,
    "engine.strategy": 4,
    "engine.report": 4.5,  # statistics and the HTML report: run and cli use them
    "engine.run": 5,
    "engine.sweep": 5.5,  # parameter sweeps: many runs of engine.run, on processes or Ray
    "engine.cli": 6,
    "engine.__main__": 6,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, name: str) -> Iterator[tuple[str, int, bool]]:
    """(imported module, line, at module level) for every import in ``path``, the
    module ``name``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name.split(".")
    if path.name != "__init__.py":
        package.pop()
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, id(node) in top_level
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            # "from engine.run import config" imports engine.run.config
            for alias in node.names:
                yield f"{module}.{alias.name}", node.lineno, id(node) in top_level


def _rank(module: str) -> float | None:
    """The rank of an engine module (its longest prefix in RANKS), None outside engine
    and for a part of engine missing from RANKS ("engine" itself ranks only its own
    ``__init__``, so a new package must be given a layer)."""
    if module == "engine":
        return RANKS["engine"]
    parts = module.split(".")
    for n in range(len(parts), 1, -1):
        rank = RANKS.get(".".join(parts[:n]))
        if rank is not None:
            return rank
    return None


def _is_bridge(module: str) -> bool:
    return module == "bridge" or module.startswith("bridge.")


def layering_violations(modules: list[tuple[Path, str]]) -> list[str]:
    """One line per import breaking the rules of the module docstring, for each
    (file, module name)."""
    out: list[str] = []
    for path, name in modules:
        where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        own = _rank(name)
        for module, line, top in _imports(path, name):
            if _is_bridge(name):
                if _rank(module) == RANKS["engine.cli"]:
                    out.append(f"{where}:{line}: bridge imports the command line ({module})")
                continue
            if _is_bridge(module):
                if path != COMPOSITION_ROOT:
                    out.append(f"{where}:{line}: engine library code imports {module}")
                elif top:
                    out.append(f"{where}:{line}: {module} imported at module level (be lazy)")
                continue
            target = _rank(module)
            if own is not None and target is not None and target > own:
                out.append(f"{where}:{line}: {name} (rank {own}) imports {module} (rank {target})")
    return out


def _python_modules() -> list[tuple[Path, str]]:
    return [(p, _module_name(p)) for p in sorted([*ENGINE.rglob("*.py"), *BRIDGE.rglob("*.py")])]


def test_every_engine_module_has_a_layer() -> None:
    unranked = [_module_name(p) for p in ENGINE.rglob("*.py") if _rank(_module_name(p)) is None]
    assert unranked == []


def test_the_scan_sees_the_composition_roots_lazy_bridge_imports() -> None:
    # guards the scan itself: cli.py imports bridge, inside functions only
    found = list(_imports(COMPOSITION_ROOT, "engine.cli"))
    assert any(_is_bridge(module) and not top for module, _, top in found)
    assert not any(_is_bridge(module) and top for module, _, top in found)


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("def f():\n    import engine.run.journal\n", "imports engine.run.journal (rank 5)"),
        ("from ..run import runner\n", "imports engine.run.runner (rank 5)"),
        ("from engine.strategy.lua_strategy import LuaStrategy\n", "(rank 4)"),
        ("import bridge.client\n", "engine library code imports bridge.client"),
    ],
)
def test_a_lower_layer_importing_a_higher_one_is_reported(
    tmp_path: Path, source: str, fragment: str
) -> None:
    probe = tmp_path / "probe.py"  # scanned as if it were engine/market/probe.py
    probe.write_text(source, encoding="utf-8")
    violations = layering_violations([(probe, "engine.market.probe")])
    assert len(violations) == 1 and fragment in violations[0], violations


def test_bridge_importing_the_command_line_is_reported(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from engine.cli import main\n", encoding="utf-8")
    (violation,) = layering_violations([(probe, "bridge.probe")])
    assert "bridge imports the command line (engine.cli.main)" in violation


def test_imports_follow_the_layers() -> None:
    violations = layering_violations(_python_modules())
    assert not violations, "layering broken:\n" + "\n".join(violations)
