"""Thread-safe mapping symbol -> MarketDataWindow (docs/design.md §2)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from engine.errors import MarketDataError
from engine.market.bar import Bar
from engine.market.window import DEFAULT_CAPACITY, FloatArray, MarketDataWindow


class MarketDataStorage:
    """The windows of all symbols of a run, safe to share between threads.

    Every operation holds one lock, so a ``push`` from a feed thread and a
    query from another thread never see a half-written window. Windows handed
    out by ``window()`` are the live objects: callers that read them while
    another thread pushes should use the snapshot methods (``latest``,
    ``closes``, ``arrays``) instead.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if type(capacity) is not int or capacity < 1:
            raise MarketDataError(f"storage capacity must be an int >= 1, got {capacity!r}")
        self._capacity = capacity
        self._windows: dict[str, MarketDataWindow] = {}
        self._lock = threading.Lock()

    def push(self, bar: Bar) -> bool:
        """Push ``bar`` into its symbol's window (created on first use).

        Returns MarketDataWindow.push's result; raises its MarketDataError.
        """
        with self._lock:
            window = self._windows.get(bar.symbol)
            if window is None:
                window = self._windows[bar.symbol] = MarketDataWindow(self._capacity)
            return window.push(bar)

    def window(self, symbol: str) -> MarketDataWindow:
        """The window of ``symbol``, created empty if absent."""
        with self._lock:
            window = self._windows.get(symbol)
            if window is None:
                window = self._windows[symbol] = MarketDataWindow(self._capacity)
            return window

    def latest(self, symbol: str) -> Bar | None:
        """The newest bar of ``symbol``, or None if it has none."""
        with self._lock:
            window = self._windows.get(symbol)
            return None if window is None else window.latest()

    def closes(self, symbol: str, n: int | None = None) -> list[float]:
        """A consistent snapshot of the last ``n`` closes of ``symbol`` (empty if unknown)."""
        with self._lock:
            window = self._windows.get(symbol)
            return [] if window is None else window.closes(n).tolist()

    def arrays(self, symbol: str) -> dict[str, FloatArray]:
        """A consistent snapshot of ``symbol``'s retained high/low/close/volume arrays."""
        with self._lock:
            window = self._windows.get(symbol)
            return {} if window is None else window.arrays()

    def symbols(self) -> list[str]:
        """The symbols with a window, in insertion order."""
        with self._lock:
            return list(self._windows)

    def __contains__(self, symbol: object) -> bool:
        with self._lock:
            return symbol in self._windows

    def __len__(self) -> int:
        with self._lock:
            return len(self._windows)

    def __iter__(self) -> Iterator[str]:
        return iter(self.symbols())
