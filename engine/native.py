"""The compiled core: the per-bar modules, built with mypyc where a compiler is present.

The modules of ``COMPILED`` run once per bar (window, indicator streams, state
machine, account, the Lua call's Python side, the runner, the equity log). ``make``
compiles them in place with mypyc (``engine.native.build``): each ``x.py`` gets an
extension module ``x.cpython-311-….so`` beside it, which Python's import system
prefers. Measured (callgrind, CPU instructions per ``SymbolRunner.on_bar`` over a
CSV run, PYTHONHASHSEED=0, 12k minus 4k bars): strategies/sma_crossover.lua 51.7k →
27.8k, bench/five_indicators.lua 86.9k → 51.1k. Compiled code keeps its speed only where
mypyc knows the types: a NamedTuple field read by name, a method of a Protocol, a bound
method kept in an attribute, a deque, or a module constant that is not ``Final`` each go
through Python's generic machinery (see engine/market/bar.py, engine/run/runner.py,
engine/indicators/streaming_base.py). The
orchestrator stays interpreted (compiled by mypyc, its asyncio run ended in a
CancelledError: tests/test_run_orchestrator.py); its bar loop is engine/run/route.py.

The compiled modules call each other natively (attribute offsets, direct C
calls), so they are used all together or not at all. ``engine/__init__.py``
calls ``choose()`` once, at the first import of ``engine``: the pure-Python
sources are imported instead of every extension when

* ``TANDEM_PURE_PYTHON`` is set to anything but ``""`` or ``0`` (the tests use it
  to prove both paths give bit-identical results),
* an extension is missing (no compiler, a plain ``pip install``: not an error), or
* a source is newer than its extension (edited since the build), or an extension
  is left from an older build of a module no longer compiled: a warning says to
  run ``make``, so an edit is never silently ignored.

``engine.NATIVE`` says which was chosen and why (``python -m engine --version`` shows it).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

#: The per-bar modules mypyc compiles (the one list: the build reads it too). Left out:
#: the validating containers built once or rarely (Context, Execution), whose checks must
#: see any value (compiled, an annotated argument of the wrong type is a bare TypeError).
COMPILED: tuple[str, ...] = (
    "engine.market.window",
    "engine.indicators.api",
    "engine.indicators.streaming_base",
    "engine.indicators.streaming_close",
    "engine.indicators.streaming_hlc",
    "engine.state.account",
    "engine.state.machine",
    "engine.state.orders",
    "engine.state.position",
    "engine.strategy.lua_strategy",
    "engine.run.runner",
    "engine.run.route",
    "engine.run.equity",
    # Shadow mode's per-bar BarTrading (RecordingMachine.trading) and its recording
    # overrides: with the shadow process's hooks, the run process's CPU on
    # bench/shadow.py fell 0.652 -> 0.595 s (median of 9 A/B, RUSAGE_SELF).
    "engine.run.trades",
)

#: The environment variable that forces the pure-Python modules.
PURE_ENV = "TANDEM_PURE_PYTHON"

_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class NativeStatus:
    """Whether the compiled modules are in use (``native``) and, if not, why."""

    native: bool
    reason: str
    #: a build exists but is out of date (choose() warns: an edit must not go unnoticed)
    stale: bool = False

    def describe(self) -> str:
        """One line for ``--version``."""
        return "compiled (mypyc)" if self.native else f"pure Python ({self.reason})"


def source_path(module: str, root: Path = _ROOT) -> Path:
    """The ``.py`` file of an engine module under ``root``."""
    return root.joinpath(*module.split(".")).with_suffix(".py")


def extension_path(module: str, root: Path = _ROOT) -> Path | None:
    """The built extension of ``module`` under ``root`` for this interpreter, if any."""
    source = source_path(module, root)
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = source.with_name(source.stem + suffix)
        if candidate.is_file():
            return candidate
    return None


def shared_libraries(root: Path = _ROOT) -> list[Path]:
    """mypyc's library of the build's shared code (``<hash>__mypyc.….so``, at the top of
    the tree: one per build; build() removes an older one)."""
    return sorted(root.glob("*__mypyc.*.so"))


def decide(modules: Sequence[str], root: Path, environ: Mapping[str, str]) -> NativeStatus:
    """Use the extensions of ``modules`` under ``root``, or their sources (see the
    module docstring for the rules)."""
    forced = environ.get(PURE_ENV, "")
    if forced not in ("", "0"):
        return NativeStatus(False, f"{PURE_ENV}={forced}")
    built = {m: extension_path(m, root) for m in modules}
    if len(shared_libraries(root)) != 1 or None in built.values():
        return NativeStatus(False, "not compiled: run make to build the compiled core")
    strays = sorted(set(root.glob("engine/**/*.so")) - set(built.values()))
    if strays:
        return NativeStatus(False, f"{strays[0].relative_to(root)} is left from an older "
                                   "build (its module is no longer compiled): run make to "
                                   "rebuild", stale=True)
    for module, extension in built.items():
        source = source_path(module, root)
        if extension is not None and source.stat().st_mtime > extension.stat().st_mtime:
            return NativeStatus(False, f"{source.relative_to(root)} changed after the compiled "
                                       "core was built: run make to rebuild it", stale=True)
    return NativeStatus(True, "")


class _SourceFinder:
    """Finds the ``.py`` source of an engine module ahead of any extension beside it
    (also one left by an older build of a module no longer compiled)."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def find_spec(self, name: str, path: object = None, target: ModuleType | None = None
                  ) -> importlib.machinery.ModuleSpec | None:
        """The source spec of an engine module; None (ask the next finder) otherwise."""
        if not name.startswith("engine."):
            return None
        source = source_path(name, self._root)
        if not source.is_file():
            return None  # a package (its __init__.py has no extension) or no such module
        return importlib.util.spec_from_file_location(name, source)


def choose() -> NativeStatus:
    """Decide once, before any compiled module is imported; install the source finder
    when the pure-Python modules are to be used. A stale build is warned about."""
    status = decide(COMPILED, _ROOT, os.environ)
    if status.native:
        _load_shared_library(shared_libraries()[0])
    else:
        if not any(isinstance(f, _SourceFinder) for f in sys.meta_path):
            sys.meta_path.insert(0, _SourceFinder(_ROOT))
        if status.stale:
            print(f"tandem: warning: running the pure-Python core: {status.reason}",
                  file=sys.stderr)
    return status


def _load_shared_library(path: Path) -> None:
    """Import the build's shared library by its top-level name, so the compiled modules
    find it in ``sys.modules`` whatever ``sys.path`` holds (it lies at the top of the
    tree, which is on the path only when the current directory is the tree: an editable
    install puts the packages, not the tree, on it)."""
    name = path.name.split(".", 1)[0]
    if name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


def build(root: Path = _ROOT) -> int:
    """Compile ``COMPILED`` in place with mypyc unless the build is up to date.

    Returns 0 when the compiled core is up to date or was built, else 1 after
    saying why on stderr (no C compiler, no mypyc, a compile error): the engine
    then runs its pure-Python modules, which is slower but otherwise the same."""
    import shutil
    import subprocess  # here: engine.native is imported by every command

    if decide(COMPILED, root, {}).native:
        return 0
    compiler = os.environ.get("CC") or next(
        (c for c in ("cc", "gcc", "clang") if shutil.which(c)), None)
    if compiler is None or importlib.util.find_spec("mypyc") is None:
        missing = "a C compiler (cc)" if compiler is None else "mypyc (pip install mypy)"
        print(f"tandem: the compiled core is not built: {missing} is missing; the engine "
              "runs in pure Python", file=sys.stderr)
        return 1
    for old in [*root.glob("engine/**/*.so"), *shared_libraries(root)]:
        old.unlink()  # an older build's, e.g. of a module no longer in COMPILED
    files = [str(source_path(m, root).relative_to(root)) for m in COMPILED]
    print(f"compiling the per-bar core with mypyc ({len(files)} modules)", file=sys.stderr)
    done = subprocess.run([sys.executable, "-m", "mypyc", *files], cwd=root,
                          capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stdout[-4000:] + done.stderr[-4000:], file=sys.stderr)
        print("tandem: mypyc failed (above); the engine runs in pure Python", file=sys.stderr)
        return 1
    for module in COMPILED:  # copied with the build's mtime, which may predate an edit
        built = extension_path(module, root)
        if built is not None:
            built.touch()
    return 0
