"""IndicatorApi: the indicators one symbol's strategy sees (docs/design.md §3, §5).

Streams are created on a strategy's first request, seeded from the window's
retained bars (the current one included) and cached by (name, params); each
later bar updates every open stream once (``on_bar``). The values of all
streams are kept flat in ``values`` (slot order, multi-output indicators taking
one slot per output, None during warm-up), which is what LuaStrategy hands to
Lua with each call. An optional RunObserver sees every stream opened and every
value served; without one the cost is a single ``is None`` test per bar.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mypy_extensions import mypyc_attr

from engine.errors import IndicatorError
from engine.indicators.streaming_base import Stream
from engine.market.bar import CLOSE, HIGH, LOW, VOLUME, Bar
from engine.market.window import MarketDataWindow
from engine.observer import IndicatorValue, Params, RunObserver

#: Streams one symbol may open. Opening costs a pass over the window in Python,
#: outside the Lua instruction budget, so a script looping over periods must
#: hit a limit rather than stall the run.
MAX_STREAMS = 256


@dataclass(slots=True)
class _Open:
    name: str
    params: Params
    stream: Any  # an engine.indicators.streaming stream
    slot: int  # 0-based index of its first output in IndicatorApi.values
    width: int  # number of outputs


# Interpreted subclasses: the tests' counting and null APIs.
@mypyc_attr(allow_interpreted_subclasses=True)
class IndicatorApi:
    """Streaming indicators of one symbol, opened on demand and cached by (name, params)."""

    def __init__(
        self, symbol: str, window: MarketDataWindow, observer: RunObserver | None = None
    ) -> None:
        self.symbol = symbol
        self.window = window
        self.observer = observer
        #: Every open stream's current output(s), flat, in slot order.
        self.values: list[float | None] = []
        self._open: list[_Open] = []
        self._by_key: dict[tuple[str, Params], _Open] = {}
        #: what on_bar needs per open stream, unpacked: (stream, slot) of the
        #: single-output streams (most of them), (stream, slot, width) of the others.
        # The streams themselves, not their bound update_hlcv: compiled, a Stream's
        # method is a direct C call with unboxed floats, a bound method a Python call
        # that boxes them. on_bar: 31.3k -> 30.1k CPU instructions a bar with two SMAs,
        # 58.2k -> 56.1k with bench/five_indicators.lua (callgrind, 12k minus 4k bars).
        self._singles: list[tuple[Stream, int]] = []
        self._multis: list[tuple[Stream, int, int]] = []

    def on_bar(self, bar: Bar) -> None:
        """Feed ``bar`` to every open stream (call after window.push, before the strategy)."""
        values = self.values
        h, lo, c, v = bar[HIGH], bar[LOW], bar[CLOSE], bar[VOLUME]  # see engine/market/bar.py
        # (the streams are independent: the update order between the lists is free)
        # (Stream.update_hlcv returns any Value: a one-output stream's is a float or
        # None, a several-output one's a tuple or None, as the registry's outputs say)
        for stream, slot in self._singles:
            values[slot] = stream.update_hlcv(h, lo, c, v)  # type: ignore[assignment]
        for stream, slot, width in self._multis:
            value = stream.update_hlcv(h, lo, c, v)
            if value is None:
                values[slot:slot + width] = (None,) * width
            else:
                values[slot:slot + width] = value  # type: ignore[assignment]
        if self.observer is not None and self._open:
            self.observer.bar_values(self.symbol, bar, values.copy())

    def open(self, name: str, args: Sequence[object]) -> tuple[int, IndicatorValue]:
        """The stream ``name(*args)``: its 1-based slot in ``values`` and current value.

        ``args`` are the positional parameters as given (None or missing =
        the default). Creates and seeds the stream on first use. Raises
        IndicatorError naming the indicator, parameter and value.
        """
        params = canonical_params(name, args)
        entry = self._by_key.get((name, params))
        if entry is None:
            entry = self._create(name, params)
        return entry.slot + 1, _served(entry)

    def _create(self, name: str, params: Params) -> _Open:
        from engine.indicators import streaming
        from engine.indicators.registry import SPECS

        if len(self._open) >= MAX_STREAMS:
            raise IndicatorError(
                f"{name}{params}: too many indicator streams ({MAX_STREAMS}) for {self.symbol}; "
                "each distinct (indicator, parameters) pair opens one — use fixed parameters"
            )
        history = self.window.arrays()
        stream = streaming.create(name, params, history)
        width = len(SPECS[name].outputs)
        entry = _Open(name, params, stream, len(self.values), width)
        value: Any = stream.value
        if width == 1:
            self.values.append(value)
        elif value is None:
            self.values.extend([None] * width)
        else:
            self.values.extend(value)
        self._open.append(entry)
        self._by_key[(name, params)] = entry
        if width == 1:
            self._singles.append((stream, entry.slot))
        else:
            self._multis.append((stream, entry.slot, width))
        if self.observer is not None:
            self.observer.stream_opened(self.symbol, name, params, history, _served(entry))
        return entry

    def value(self, name: str, *args: object) -> IndicatorValue:
        """The current value of ``name(*args)`` (opening the stream if needed)."""
        return self.open(name, args)[1]

    def high(self) -> float | None:
        """The highest high of the retained window (None when empty)."""
        n = len(self.window)
        return self.window.high(n) if n else None

    def low(self) -> float | None:
        """The lowest low of the retained window (None when empty)."""
        n = len(self.window)
        return self.window.low(n) if n else None

    @property
    def streams(self) -> list[tuple[str, Params]]:
        """(name, params) of every open stream, in the order they were opened."""
        return [(e.name, e.params) for e in self._open]


def _served(entry: _Open) -> IndicatorValue:
    value = entry.stream.value
    if value is None or entry.width == 1:
        return value  # type: ignore[no-any-return]
    return tuple(value)


def canonical_params(name: str, args: Sequence[object]) -> Params:
    """``args`` checked against the registry: defaults filled, integral floats made int.

    None (an omitted Lua argument) takes the default. Raises IndicatorError for
    an unknown indicator, too many arguments, a non-number, a non-integral
    integer parameter or a value outside TA-Lib's range.
    """
    from engine.indicators.registry import spec_for

    spec = spec_for(name)
    given = list(args)
    while given and given[-1] is None:
        given.pop()
    values: list[object] = []
    for i, value in enumerate(given):
        p = spec.params[i] if i < len(spec.params) else None
        if p is not None and value is None:
            value = p.default
        elif p is not None and p.kind == "int" and isinstance(value, float) and value.is_integer():
            value = int(value)
        values.append(value)
    return tuple(spec.resolve(values))
