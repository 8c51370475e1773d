"""Tandem: a trading engine with Lua strategies and OCaml-verified indicators."""

__version__ = "0.1.0"
