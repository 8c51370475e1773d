"""Orchestrator.run_sync: the loop-free path for feeds with a plain iterator.

Same routing, --bars limit and feed records as ``run``; a signal stops it after
the current bar; the feed's generator is closed at the end.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

from factories import make_bar
from test_run_orchestrator import ListFeed, interleaved, journal, runner, seen

from engine.market.bar import Bar
from engine.run.orchestrator import Orchestrator


class IterFeed(ListFeed):
    """ListFeed that also offers ``iter_bars()`` (like the simulated and CSV feeds)."""

    def __init__(self, bars: list[Bar], hook: Callable[[int], None] | None = None) -> None:
        super().__init__(bars, hook)
        self.finished = False

    def iter_bars(self) -> Iterator[Bar]:
        try:
            for i, b in enumerate(self.bars):
                if self.hook is not None:
                    self.hook(i)
                yield b
        finally:
            self.finished = True


def test_run_sync_routes_like_run(tmp_path: Path) -> None:
    bars = interleaved(["A", "C", "B"], 30)
    results = []
    for mode in ("async", "sync"):
        (tmp_path / mode).mkdir()
        j = journal(tmp_path / mode)
        runners = {"A": runner("A", j), "B": runner("B", j)}
        feed = IterFeed(bars)
        orch = Orchestrator(runners, feed, j, bars=20)
        status = asyncio.run(orch.run()) if mode == "async" else orch.run_sync()
        results.append((status, seen(runners["A"]), seen(runners["B"]), orch.unrouted))
        assert feed.finished
    assert results[0] == results[1]
    assert len(results[1][1]) == 20 and len(results[1][2]) == 20


def test_sigint_stops_run_sync_after_the_current_bar(tmp_path: Path) -> None:
    j = journal(tmp_path)
    runners = {"A": runner("A", j)}

    def hook(i: int) -> None:
        if i == 5:  # raised while the feed prepares bar 5
            os.kill(os.getpid(), signal.SIGINT)

    feed = IterFeed([make_bar(i, symbol="A") for i in range(50)], hook)
    orch = Orchestrator(runners, feed, j)
    before = signal.getsignal(signal.SIGINT)
    assert orch.run_sync() == "interrupted"
    assert orch.stop_signal == signal.SIGINT
    assert 5 <= runners["A"].stats.bars <= 6  # bar 5 was on its way; nothing after it
    assert signal.getsignal(signal.SIGINT) is before
    assert feed.finished  # the generator (a file, for CSV) was closed
