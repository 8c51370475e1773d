"""The orchestrator's per-bar loop: each bar to its symbol's runner.

Its own module so that it is compiled with the per-bar core (engine/native.py);
the orchestrator around it (asyncio, signals) stays interpreted (engine/native.py
says why). Compiled, the loop calls ``SymbolRunner.on_bar`` natively.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Protocol

from engine.market.bar import SYMBOL, Bar
from engine.run.runner import SymbolRunner


class RouteJournal(Protocol):
    """What the loop needs of the journal: its pending count and commit deadline."""

    @property
    def pending(self) -> int: ...

    @property
    def flush_deadline(self) -> float: ...

    def flush(self) -> None: ...


class RouteReloader(Protocol):
    """A hot reloader, asked between bars (``engine.run.reload.StrategyReloader``)."""

    def check(self) -> None: ...


class RouteControl(Protocol):
    """The orchestrator's side: a signal stops the run (``stop_signal`` not None)."""

    @property
    def stop_signal(self) -> int | None: ...


class Routed:
    """What one call of ``route`` did: bars read, bars of no runner, whether to stop."""

    __slots__ = ("read", "stop", "unrouted")

    def __init__(self, read: int, unrouted: int, stop: bool) -> None:
        self.read = read
        self.unrouted = unrouted
        self.stop = stop


def route(bars: Iterable[Bar], runners: dict[str, SymbolRunner], done: set[str],
          limit: int | None, reloader: RouteReloader | None, journal: RouteJournal,
          control: RouteControl) -> Routed:
    """Hand ``bars`` to their runners (a symbol in ``done`` has reached ``limit`` bars
    and gets no more); stop early when every symbol is done or a signal arrived."""
    monotonic = time.monotonic
    read = unrouted = 0
    for bar in bars:
        read += 1
        # bar[SYMBOL], a dict: compiled, a NamedTuple's field by name and a Mapping's
        # get go through Python's generic lookups (see engine/market/bar.py)
        symbol = bar[SYMBOL]
        runner = runners.get(symbol)
        if runner is None:
            unrouted += 1
            continue
        if symbol in done:
            continue
        if reloader is not None:
            reloader.check()
        runner.on_bar(bar)
        if journal.pending and monotonic() >= journal.flush_deadline:
            journal.flush()  # journal.flush_if_due(), inlined: this runs every bar
        if limit is not None and runner.stats.bars >= limit:
            done.add(symbol)
            if len(done) == len(runners):
                return Routed(read, unrouted, True)
        if control.stop_signal is not None:
            return Routed(read, unrouted, True)
    return Routed(read, unrouted, False)
