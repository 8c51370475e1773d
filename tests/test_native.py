"""The compiled core (engine/native.py): chosen all or nothing, never stale, and
bit-identical to the pure-Python modules it is compiled from."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import engine
from engine.native import COMPILED, PURE_ENV, _SourceFinder, decide, extension_path

ROOT = Path(__file__).resolve().parent.parent
SUFFIX = ".cpython-311-x86_64-linux-gnu.so"


def _tree(tmp_path: Path, modules: list[str], built: bool, newer_source: str | None = None
          ) -> Path:
    """A fake source tree: each module's .py and (``built``) an extension beside it,
    the extension 10 s newer than its source unless the module is ``newer_source``."""
    for module in modules:
        source = tmp_path.joinpath(*module.split(".")).with_suffix(".py")
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_text("x = 1\n")
        os.utime(source, (1_000_000, 1_000_000))
        if built:
            ext = source.with_name(source.stem + SUFFIX)
            ext.write_bytes(b"")
            stamp = 999_990 if module == newer_source else 1_000_010
            os.utime(ext, (stamp, stamp))
    if built:
        (tmp_path / f"0123abcd__mypyc{SUFFIX}").write_bytes(b"")  # the shared library
    return tmp_path


MODULES = ["engine.a.one", "engine.b.two"]


def test_a_fresh_build_is_used(tmp_path: Path) -> None:
    status = decide(MODULES, _tree(tmp_path, MODULES, built=True), {})
    assert status.native and status.describe() == "compiled (mypyc)"


def test_without_a_build_the_sources_are_used(tmp_path: Path) -> None:
    status = decide(MODULES, _tree(tmp_path, MODULES, built=False), {})
    assert not status.native and "not compiled" in status.reason and not status.stale


def test_a_source_edited_after_the_build_turns_the_whole_core_pure(tmp_path: Path) -> None:
    root = _tree(tmp_path, MODULES, built=True, newer_source="engine.b.two")
    status = decide(MODULES, root, {})
    assert not status.native
    assert status.reason.startswith("engine/b/two.py changed after") and "make" in status.reason
    assert status.stale


def test_an_extension_left_from_an_older_build_turns_the_core_pure(tmp_path: Path) -> None:
    root = _tree(tmp_path, [*MODULES, "engine.c.old"], built=True)
    status = decide(MODULES, root, {})  # engine.c.old is no longer compiled
    assert not status.native
    assert status.reason.startswith(f"engine/c/old{SUFFIX} is left from an older build")
    assert status.stale


def test_two_shared_libraries_are_not_a_build(tmp_path: Path) -> None:
    root = _tree(tmp_path, MODULES, built=True)
    (root / f"4567cdef__mypyc{SUFFIX}").write_bytes(b"")
    assert not decide(MODULES, root, {}).native


@pytest.mark.parametrize(("value", "native"), [("1", False), ("yes", False), ("0", True),
                                               ("", True)])
def test_the_environment_can_force_the_sources(tmp_path: Path, value: str, native: bool
                                               ) -> None:
    status = decide(MODULES, _tree(tmp_path, MODULES, built=True), {PURE_ENV: value})
    assert status.native is native
    if not native:
        assert status.reason == f"{PURE_ENV}={value}"


def test_the_source_finder_prefers_the_source_to_any_extension(tmp_path: Path) -> None:
    root = _tree(tmp_path, ["engine.state.stray"], built=True)  # a garbage "extension"
    spec = _SourceFinder(root).find_spec("engine.state.stray")
    assert spec is not None and spec.origin == str(root / "engine" / "state" / "stray.py")
    assert _SourceFinder(root).find_spec("engine.state.missing") is None
    assert _SourceFinder(root).find_spec("numpy") is None


def test_this_checkout_runs_the_compiled_core() -> None:
    """make builds the core (a C compiler is part of the setup); a test run without
    it would test only the pure-Python path."""
    if os.environ.get(PURE_ENV, "") not in ("", "0"):
        assert not engine.NATIVE.native
        return
    assert engine.NATIVE.native, f"the compiled core is not in use: {engine.NATIVE.reason}"
    for module in COMPILED:
        assert importlib.import_module(module).__file__ == str(extension_path(module)), module


def test_the_compiled_core_loads_from_any_directory(tmp_path: Path) -> None:
    """Its shared library lies at the top of the tree, not in a package: it must be
    found when the current directory is elsewhere (sys.path then lacks the tree)."""
    done = subprocess.run([sys.executable, "-c", "import engine, engine.run.runner as r; "
                           "print(engine.NATIVE.native, r.__file__)"],
                          cwd=tmp_path, capture_output=True, text=True, check=True)
    native, where = done.stdout.split()
    assert native == str(engine.NATIVE.native)
    assert where.endswith(".so") is engine.NATIVE.native


# Every example strategy, both fill modes, a cash limit that refuses some entries:
# summary, trades and the equity after every bar, printed as JSON (repr of each
# float: equal text means equal bits).
_RUN_ALL = """
import json, sys, tempfile
from pathlib import Path
import engine
from engine.run import backtest
from engine.run.config import RunConfig
out = {"native": engine.NATIVE.native}
with tempfile.TemporaryDirectory() as d:
    for path in sorted(Path("strategies").glob("*.lua")):
        for fill in ("close", "next-open"):
            config = RunConfig(strategy=path, feed="sim", bars=1500, fill=fill, cash=3000.0,
                               symbols=("BTCUSDT", "ETHUSDT"), fee_bps=7.5, slippage_bps=3.0,
                               journal=Path(d) / f"{path.stem}-{fill}.sqlite")
            r = backtest(config)
            summary = {k: v for k, v in r.summary.items() if k not in ("elapsed_s", "journal")}
            out[f"{path.stem}/{fill}"] = [summary, list(r.trades),
                                          {s: list(e) for s, e in r.equity.items()}]
print(json.dumps(out, sort_keys=True))
"""


def _run_all(pure: bool) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != PURE_ENV}
    if pure:
        env[PURE_ENV] = "1"
    done = subprocess.run([sys.executable, "-c", _RUN_ALL], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout))


def test_compiled_and_pure_python_runs_are_bit_identical() -> None:
    compiled, pure = _run_all(pure=False), _run_all(pure=True)
    assert compiled.pop("native") is engine.NATIVE.native
    assert pure.pop("native") is False
    assert len(compiled) == 2 * len(list((ROOT / "strategies").glob("*.lua"))) >= 8
    assert any(run[1] for run in compiled.values())  # type: ignore[index]
    for key in compiled:
        assert compiled[key] == pure[key], key
