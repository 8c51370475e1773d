"""The validated market-data bar (docs/design.md §2).

A ``Bar`` is immutable and validated when it is built, so every later layer can
trust it. Construction sits on the hot path of a backtest (one bar per step),
so the valid case is decided by one chained comparison; the slow, detailed
diagnosis (which field, which value) only runs when that comparison fails.

``Bar`` is a slotted ``NamedTuple`` subclass: one allocation per bar, about three
times cheaper to build than a frozen slotted dataclass. Unlike a plain tuple it
only compares equal to another ``Bar``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from itertools import repeat
from typing import Any, Final, NamedTuple

from engine.errors import MarketDataError

_INF = math.inf
_MAX_TS = 2**63  # timestamps are stored in int64 arrays
_new_tuple = tuple.__new__


class _BarFields(NamedTuple):
    symbol: str
    timestamp: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    bid: float | None = None
    ask: float | None = None


# Bar's fields by position, for the compiled per-bar code (engine/native.py): mypyc
# reads a NamedTuple field by name through Python's generic attribute lookup, by a
# literal index as one tuple item. A bar reads 8-20 fields; by index ``on_bar`` costs
# 31.3k instead of 33.1k CPU instructions a bar with strategies/sma_crossover.lua and
# 58.2k instead of 59.6k with bench/five_indicators.lua (callgrind, 12k minus 4k bars).
# Literals, so that mypy knows each item's type; tests/test_market_bar.py checks them.
SYMBOL: Final = 0
TIMESTAMP: Final = 1
OPEN: Final = 2
HIGH: Final = 3
LOW: Final = 4
CLOSE: Final = 5
VOLUME: Final = 6


class Bar(_BarFields):
    """One closed bar of one symbol.

    ``timestamp`` is the bar's open time in milliseconds since the epoch (UTC).
    Validation (every rule of docs/design.md §2): ``symbol`` a non-empty str,
    ``timestamp`` an int in [0, 2**63), all prices finite and > 0, ``volume`` finite and
    >= 0, ``low <= min(open, close) <= max(open, close) <= high``, ``bid`` and
    ``ask`` (optional) finite and > 0 and ``bid <= ask`` when both are given.
    A violation raises ``MarketDataError`` naming symbol, timestamp, field and
    value. Prices may be given as int or float; they are stored as given.
    """

    __slots__ = ()

    def __new__(
        cls,
        symbol: str,
        timestamp: int,
        open: float,
        high: float,
        low: float,
        close: float,
        volume: float,
        bid: float | None = None,
        ask: float | None = None,
    ) -> Bar:
        try:
            ok = (
                0.0 < low <= open <= high < _INF
                and low <= close <= high
                and 0.0 <= volume < _INF
                and type(timestamp) is int
                and type(low) is not bool  # bool is an int subclass: True == 1
                and type(high) is not bool
                and type(open) is not bool
                and type(close) is not bool
                and type(volume) is not bool
                and 0 <= timestamp < _MAX_TS
                and type(symbol) is str
                and symbol != ""
                and ((bid is None and ask is None) or _quote_ok(bid, ask))
            )
        except TypeError:
            ok = False
        if not ok:
            _diagnose(symbol, timestamp, open, high, low, close, volume, bid, ask)
        return _new_tuple(cls, (symbol, timestamp, open, high, low, close, volume, bid, ask))

    @property
    def mid_price(self) -> float:
        """``(bid + ask) / 2`` when both quotes are present, else ``close``."""
        bid, ask = self[7], self[8]
        if bid is None or ask is None:
            return self[5]
        return (bid + ask) / 2.0

    @classmethod
    def _make(cls, iterable: Iterable[Any]) -> Bar:  # type: ignore[override]
        """Build from an iterable of the nine fields (validated, unlike NamedTuple's)."""
        return cls(*iterable)

    def _replace(self, /, **changes: Any) -> Bar:
        """A copy with some fields changed (validated, unlike NamedTuple's)."""
        fields = self._asdict()
        fields.update(changes)
        return Bar(**fields)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Bar) and tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = _BarFields.__hash__

    def __repr__(self) -> str:
        return (
            f"Bar(symbol={self.symbol!r}, timestamp={self.timestamp}, open={self.open!r}, "
            f"high={self.high!r}, low={self.low!r}, close={self.close!r}, "
            f"volume={self.volume!r}, bid={self.bid!r}, ask={self.ask!r})"
        )


def trusted_bars(
    symbol: str,
    timestamps: Iterable[int],
    opens: Iterable[float],
    highs: Iterable[float],
    lows: Iterable[float],
    closes: Iterable[float],
    volumes: Iterable[float],
) -> Iterator[Bar]:
    """Bars (no quotes) built from columns *without* per-bar validation.

    Only for values the caller has already checked against every rule of
    docs/design.md §2, in bulk (the CSV feed's vectorised path): ``symbol`` a
    non-empty str, int timestamps in [0, 2**63), float prices and volumes.
    Every other entry point builds bars with ``Bar(...)``, which validates.
    Building in C (``map`` over ``zip``) costs a fraction of a validated call.
    """
    rows = zip(repeat(symbol), timestamps, opens, highs, lows, closes, volumes,
               repeat(None), repeat(None))
    return map(_new_tuple, repeat(Bar), rows)


def _quote_ok(bid: object, ask: object) -> bool:
    """Fast check of the optional quotes: each a finite number > 0, bid <= ask."""
    if bid is True or bid is False or ask is True or ask is False:
        return False
    if bid is None:
        return 0.0 < ask < _INF  # type: ignore[operator]
    if ask is None:
        return 0.0 < bid < _INF  # type: ignore[operator]
    return 0.0 < bid <= ask < _INF  # type: ignore[operator,no-any-return]


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _diagnose(
    symbol: object,
    timestamp: object,
    open_: object,
    high: object,
    low: object,
    close: object,
    volume: object,
    bid: object,
    ask: object,
) -> None:
    """Raise the MarketDataError for the first rule the bar breaks."""

    def fail(field: str, value: object, rule: str) -> MarketDataError:
        return MarketDataError(
            f"invalid bar for symbol {symbol!r} at timestamp {timestamp!r}: "
            f"field {field!r} = {value!r} {rule}"
        )

    if type(symbol) is not str or symbol == "":
        raise fail("symbol", symbol, "must be a non-empty string")
    if type(timestamp) is not int or not 0 <= timestamp < _MAX_TS:
        raise fail("timestamp", timestamp, "must be an int in [0, 2**63) (ms since epoch, UTC)")
    prices = {"open": open_, "high": high, "low": low, "close": close, "bid": bid, "ask": ask}
    for name, value in prices.items():
        if value is None and name in ("bid", "ask"):
            continue
        if not _is_number(value):
            raise fail(name, value, "must be a number (int or float)")
        if not (0.0 < value < _INF):  # type: ignore[operator]
            raise fail(name, value, "must be finite and > 0")
    if not _is_number(volume):
        raise fail("volume", volume, "must be a number (int or float)")
    if not (0.0 <= volume < _INF):  # type: ignore[operator]
        raise fail("volume", volume, "must be finite and >= 0")
    _diagnose_ranges(fail, open_, high, low, close, bid, ask)
    raise AssertionError("unreachable: the bar passed every rule")  # pragma: no cover


def _diagnose_ranges(
    fail: Any, open_: Any, high: Any, low: Any, close: Any, bid: Any, ask: Any
) -> None:
    """Raise for the first broken ordering rule (all values are valid numbers here)."""
    if low > high:
        raise fail("low", low, f"must be <= high ({high!r})")
    for name, value in (("open", open_), ("close", close)):
        if value < low:
            raise fail(name, value, f"must be >= low ({low!r})")
        if value > high:
            raise fail(name, value, f"must be <= high ({high!r})")
    if bid is not None and ask is not None and bid > ask:
        raise fail("bid", bid, f"must be <= ask ({ask!r})")
