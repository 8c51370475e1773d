"""The error hierarchy of Tandem (docs/design.md §9).

Every error a user can provoke is one of these. Messages name what was wrong,
where (file:line, symbol, timestamp, field) and what would be valid. The CLI
prints them without a traceback (unless ``--debug``) and exits non-zero.
"""

from __future__ import annotations

from typing import TypeVar


class TandemError(Exception):
    """Base class of every error Tandem raises on purpose."""


class MarketDataError(TandemError):
    """A bar or market-data record is invalid (bad price, volume, ordering)."""


class IndicatorError(TandemError, ValueError):
    """Bad input to an indicator: non-finite values, wrong shape, bad period."""


class StrategyError(TandemError):
    """A strategy failed: load error, runtime error, budget, memory or bad action."""


class BridgeError(TandemError):
    """The OCaml indicator server is missing, dead, hung or spoke nonsense."""


class FeedError(TandemError):
    """A market-data feed cannot be opened or read (file, network, format)."""


class ConfigError(TandemError):
    """A command-line option or configuration value is invalid."""


class JournalError(TandemError):
    """The run journal cannot be written (disk full, I/O error): the run stops."""


_E = TypeVar("_E", bound=BaseException)


def chained(error: _E, cause: BaseException | None) -> _E:
    """``error`` with ``cause`` as its ``__cause__`` (None: the context suppressed).

    Written ``raise chained(error, cause) from cause`` in the modules mypyc compiles
    (engine/native.py): mypyc (2.x) drops a ``from`` clause, the interpreter keeps it;
    either way the cause is set."""
    error.__cause__ = cause
    return error
