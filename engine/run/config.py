"""Validation of the ``run`` command's options: pure functions raising ConfigError."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

from engine.errors import ConfigError

_SYMBOL = re.compile(r"[A-Z0-9][A-Z0-9._-]{0,31}")
_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

#: The largest --window accepted.
MAX_WINDOW = 1_000_000


def parse_symbols(text: str) -> list[str]:
    """``"btcusdt, ETHUSDT"`` → ``["BTCUSDT", "ETHUSDT"]`` (upper-cased, unique, in order)."""
    symbols: list[str] = []
    for raw in text.split(","):
        symbol = raw.strip().upper()
        if not _SYMBOL.fullmatch(symbol):
            raise ConfigError(
                f"--symbols: invalid symbol {raw.strip()!r} in {text!r}; expected letters and "
                "digits such as BTCUSDT, separated by commas"
            )
        if symbol in symbols:
            raise ConfigError(f"--symbols: {symbol} is listed twice in {text!r}")
        symbols.append(symbol)
    return symbols


def parse_params(items: Sequence[str]) -> dict[str, str]:
    """``["fast=10", "slow=30"]`` → ``{"fast": "10", "slow": "30"}``.

    Values stay text: the strategy converts them to the type of the default
    declared in its ``params`` table (and rejects unknown names).
    """
    params: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not _PARAM_NAME.fullmatch(name):
            raise ConfigError(f"--param {item!r}: expected NAME=VALUE, e.g. --param fast=10")
        if name in params:
            raise ConfigError(f"--param {name} is given twice")
        params[name] = value.strip()
    return params


def strategy_file(path: str) -> Path:
    """The strategy file as a Path; ConfigError when it is missing or not a file."""
    p = Path(path)
    if not p.is_file():
        what = "is not a file" if p.exists() else "does not exist"
        raise ConfigError(f"strategy file {path}: the file {what}")
    return p


def check_limits(
    *, bars: int | None, max_errors: int, window: int, fee_bps: float, slippage_bps: float
) -> None:
    """Reject out-of-range numeric options with a message naming the option and value."""
    if bars is not None and bars < 1:
        raise ConfigError(f"--bars {bars}: must be a positive number of bars per symbol")
    if max_errors < 1:
        raise ConfigError(f"--max-errors {max_errors}: must be at least 1")
    if window < 2:
        raise ConfigError(f"--window {window}: must keep at least 2 bars")
    if window > MAX_WINDOW:  # beyond this the numpy buffers alone need gigabytes
        raise ConfigError(f"--window {window}: must be at most {MAX_WINDOW:,} bars")
    for flag, value in (("--fee-bps", fee_bps), ("--slippage-bps", slippage_bps)):
        if not math.isfinite(value) or not 0.0 <= value < 10_000.0:
            raise ConfigError(f"{flag} {value}: must be a finite number in [0, 10000)")


def strategy_paths(
    default: str, overrides: Sequence[str], symbols: Sequence[str]
) -> dict[str, Path]:
    """Symbol → strategy file: ``default`` unless ``--strategy-for SYMBOL=FILE`` says
    otherwise. Every file must exist and every SYMBOL must be one of ``symbols``."""
    base = strategy_file(default)
    paths = dict.fromkeys(symbols, base)
    given: set[str] = set()
    for item in overrides:
        symbol, sep, file = item.partition("=")
        symbol = symbol.strip().upper()
        if not sep or not symbol or not file.strip():
            raise ConfigError(f"--strategy-for {item!r}: expected SYMBOL=FILE")
        if symbol not in paths:
            raise ConfigError(
                f"--strategy-for {item!r}: {symbol} is not in --symbols ({', '.join(symbols)})"
            )
        if symbol in given:
            raise ConfigError(f"--strategy-for {symbol} is given twice")
        given.add(symbol)
        paths[symbol] = strategy_file(file.strip())
    return paths
