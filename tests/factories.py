"""The one factory of test bars.

``make_bar(i, close)`` is bar number ``i`` of a one-minute series. Defaults, each
overridable by keyword:

* ``symbol`` "BTCUSDT";
* ``timestamp`` = ``start + i * 60_000`` ms (``start`` 0), so bar ``i`` opens at minute ``i``;
* ``open`` = ``close``;
* ``high`` = max(open, close) + 1.0 and ``low`` = min(open, close) − 0.5: unequal
  wicks, so highs, lows and closes are told apart at a glance in arrays;
* ``volume`` 1.0, no ``bid``/``ask``.

The bar goes through ``Bar``'s validation like any other: a test of a bad bar
builds it with ``Bar`` itself (tests/test_market_bar.py).
"""

from __future__ import annotations

from engine.market.bar import Bar

MINUTE_MS = 60_000


def make_bar(
    i: int = 0,
    close: float = 100.0,
    *,
    open: float | None = None,  # shadows the builtin: it is the Bar field's name
    high: float | None = None,
    low: float | None = None,
    volume: float = 1.0,
    symbol: str = "BTCUSDT",
    start: int = 0,
    bid: float | None = None,
    ask: float | None = None,
) -> Bar:
    """Bar ``i`` (``start + i`` minutes) closing at ``close``; defaults in the module doc."""
    o = close if open is None else open
    h = max(o, close) + 1.0 if high is None else high
    lo = min(o, close) - 0.5 if low is None else low
    return Bar(symbol, start + i * MINUTE_MS, o, h, lo, close, volume, bid, ask)
