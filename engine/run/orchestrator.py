"""Many symbols from one feed: routing, bar limits, signals, housekeeping.

One asyncio task consumes the feed and hands each bar to its symbol's runner.
The runners are independent (own window, machine, strategy, Lua runtime), but
they share one thread: bars arrive in time order from one feed, Lua and Python
both hold the GIL, and a queue and task per symbol would cost more than the
bar's own work (docs/design.md §10 leaves ≈ 5 µs per bar). A bar is processed
synchronously, so the task can only be suspended — and cancelled — between
bars, while it waits for the next one. Feeds that also offer a plain iterator
(``iter_bars()``: simulated, CSV) are read through it in chunks of
``HOUSEKEEPING_EVERY`` bars, yielding to the event loop between chunks — or,
with ``run_sync``, without any event loop at all (a backtest then neither
imports nor runs asyncio: ≈ 25 ms less start-up).

SIGINT / SIGTERM: the current bar is finished, the feed task is cancelled while
it waits for the next bar (``run_sync``: no further bar is routed), and the run
returns "interrupted" so the caller can flush the journal and print the summary.
A second signal while shutting down is ignored.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import islice
from types import FrameType
from typing import TYPE_CHECKING

from engine.market.bar import Bar
from engine.market.feeds.base import Feed
from engine.run.equity import EquityLog
from engine.run.journal import Journal
from engine.run.reload import StrategyReloader
from engine.run.route import route
from engine.run.runner import SymbolRunner

if TYPE_CHECKING:
    import asyncio

log = logging.getLogger("tandem.run")

#: How many rejected feed records are logged one by one before only counting.
LOGGED_REJECTIONS = 20

#: Bars between housekeeping passes in the feed loop (progress, rejected-bar records).
HOUSEKEEPING_EVERY = 1024
#: Seconds between housekeeping passes while the feed is idle (live feeds).
TICK_S = 0.25

ProgressCallback = Callable[[int], None]


class Orchestrator:
    """Routes one feed's bars to the runners of their symbols."""

    def __init__(
        self,
        runners: Mapping[str, SymbolRunner],
        feed: Feed,
        journal: Journal,
        *,
        bars: int | None = None,
        reloader: StrategyReloader | None = None,
        progress: ProgressCallback | None = None,
        equity: Iterable[EquityLog] = (),
    ) -> None:
        self.runners = dict(runners)
        #: the runners' equity series, advanced and written at each housekeeping pass
        self.equity = tuple(equity)
        self.feed = feed
        self.journal = journal
        self.bars_limit = bars
        self.reloader = reloader
        self.progress = progress
        #: the signal that stopped the run, if any
        self.stop_signal: int | None = None
        #: rejected / duplicate records reported by the feed, per symbol
        self.feed_rejected: Counter[str] = Counter()
        self.feed_duplicates: Counter[str] = Counter()
        self.unrouted = 0
        self._seen = 0
        self._done: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    def run_sync(self) -> str:
        """``run`` without an event loop, for a feed offering ``iter_bars()`` (simulated,
        CSV): its bars are routed in chunks, with housekeeping between chunks; a
        signal stops the run after the current bar. Returns the status."""
        bars: Iterator[Bar] = iter(self.feed.iter_bars())  # type: ignore[attr-defined]
        try:
            with self._signals(None):
                while self._route(islice(bars, HOUSEKEEPING_EVERY)) == HOUSEKEEPING_EVERY:
                    pass
        finally:
            close = getattr(bars, "close", None)
            if close is not None:
                close()  # the generator's file, now (these feeds' aclose does nothing)
            self.housekeeping()
        return "finished" if self.stop_signal is None else "interrupted"

    async def run(self) -> str:
        """Consume the feed to its end, the bar limit or a signal; return the status
        ("finished" or "interrupted")."""
        import asyncio

        loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._consume())
        ticker = asyncio.create_task(self._tick())
        with self._signals(loop):
            try:
                await self._task
            except asyncio.CancelledError:
                if self.stop_signal is None:
                    raise
            finally:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
                await self.feed.aclose()
                self.housekeeping()
        return "finished" if self.stop_signal is None else "interrupted"

    async def _consume(self) -> None:
        import asyncio

        iter_bars = getattr(self.feed, "iter_bars", None)
        if callable(iter_bars):
            # A finite in-process feed (simulated, CSV) also offers a plain iterator:
            # run it in chunks without the per-bar cost of an async generator, and
            # give the event loop (ticker, signal callbacks) a turn between chunks.
            bars: Iterator[Bar] = iter(iter_bars())
            while self._route(islice(bars, HOUSEKEEPING_EVERY)) == HOUSEKEEPING_EVERY:
                await asyncio.sleep(0)
        else:
            warm_up = getattr(self.feed, "warm_up", None)
            if callable(warm_up):  # a live feed: check symbols, fetch history first
                for symbol, bars in (await warm_up()).items():
                    runner = self.runners.get(symbol)
                    if runner is not None:
                        runner.warm_up(bars)
            stream = aiter(self.feed)
            try:
                async for bar in stream:
                    if self._route((bar,)) is None:
                        break
            finally:
                # close the generator now (its connection), not when it is collected
                close = getattr(stream, "aclose", None)
                if close is not None:
                    await close()

    def _route(self, bars: Iterable[Bar]) -> int | None:
        """Hand ``bars`` to their runners (engine/run/route.py); return how many were
        read from ``bars``, or None when the run must stop (every symbol reached
        --bars, or a signal)."""
        routed = route(bars, self.runners, self._done, self.bars_limit, self.reloader,
                       self.journal, self)
        self._seen += routed.read
        self.unrouted += routed.unrouted
        if routed.stop:
            return None
        if routed.read == HOUSEKEEPING_EVERY or self._seen % HOUSEKEEPING_EVERY == 0:
            self.housekeeping()
        return routed.read

    async def _tick(self) -> None:
        """Housekeeping while the feed is idle (a live feed between bars)."""
        import asyncio

        while True:
            await asyncio.sleep(TICK_S)
            self.housekeeping()

    def housekeeping(self) -> None:
        """Journal the feed's rejected records and the new equity points, commit if
        due, report progress."""
        for rec in self.feed.stats.drain():
            symbol = rec.symbol or "?"
            if rec.kind == "duplicate":
                self.feed_duplicates[symbol] += 1
                continue
            self.feed_rejected[symbol] += 1
            self._log_rejection(rec.where, rec.reason)
            self.journal.record_rejected_bar(
                rec.symbol,
                rec.timestamp,
                source="feed",
                kind=rec.kind,
                location=rec.where,
                reason=rec.reason,
            )
        for series in self.equity:
            series.write_if_due(self.journal)
        self.journal.flush_if_due()
        if self.progress is not None:
            self.progress(self._seen)

    def _log_rejection(self, where: str, reason: str) -> None:
        """Log the first rejections with their place (docs/design.md §2: counted *and* logged);
        a file with thousands of bad rows must not flood the terminal: the rest are
        counted in the summary and all of them are in the journal."""
        n = sum(self.feed_rejected.values())
        if n <= LOGGED_REJECTIONS:
            log.warning("rejected %s: %s", where, reason)
        elif n == LOGGED_REJECTIONS + 1:
            log.warning("more rejected records: counted in the summary and listed in the "
                        "journal's rejected_bars table, no longer logged")

    @contextlib.contextmanager
    def _signals(self, loop: asyncio.AbstractEventLoop | None) -> Iterator[None]:
        """Install SIGINT/SIGTERM handlers for the run; restore the old ones after.
        Without a loop (``run_sync``) the flag alone stops the routing."""

        def handler(signum: int, frame: FrameType | None) -> None:
            if self.stop_signal is not None:
                return
            self.stop_signal = signum
            log.warning("%s: finishing the current bar and stopping", signal.strsignal(signum))
            if loop is not None:
                # runs when the feed task is suspended, i.e. between two bars
                loop.call_soon_threadsafe(self._cancel_wait)

        if threading.current_thread() is not threading.main_thread():
            yield  # signal handlers can only be installed from the main thread
            return
        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, old in previous.items():
                signal.signal(s, old)

    def _cancel_wait(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
