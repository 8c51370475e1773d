"""Tandem: a trading engine with Lua strategies and OCaml-verified indicators."""

# The distribution's one version: pyproject.toml reads it from here (setuptools'
# dynamic version). The OCaml wire protocol has its own version (bridge/protocol.py).
__version__ = "0.1.0"

# Before any per-bar module is imported: the compiled core (mypyc) or the pure-Python
# sources, all or nothing (engine/native.py). NATIVE says which and why.
from engine.native import choose as _choose

NATIVE = _choose()
