"""Shadow mode (docs/design.md §7): every indicator value a strategy reads, checked
against the OCaml implementation while the run goes on.

Scientist's experiment model: Python is the control and always wins; OCaml is
the candidate. ``ShadowObserver`` is a ``RunObserver`` of the run command
(``bridge.shadow.factory.make_shadow_observer``). On the run's thread it only appends a tuple to
a bounded queue (when full, the bar's comparison is dropped and counted, but
the bar itself still reaches the candidate so its streams stay in step); a
worker thread feeds the OCaml streams in pipelined batches and compares
(``bridge.shadow.candidate``). Nothing it does can block, slow more than the
queue append, raise into or change the run.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from bridge.shadow.candidate import BarEvent, Candidate, OpenEvent
from bridge.shadow.mirror import Served
from bridge.shadow.pipe import CLOSE_TIMEOUT_S
from bridge.shadow.settings import RETAIN_BARS, MismatchSink, ShadowConfig, percentile
from bridge.shadow.trades import OpenBook, TradeCandidate, TradeEvent
from engine.market.bar import Bar
from engine.observer import IndicatorValue, Params
from engine.run.config import RunConfig, ShadowOptions
from engine.run.trades import BarTrading
from engine.state import Costs, Execution

log = logging.getLogger("tandem.shadow")

#: Most events handled per worker step (one pipelined exchange with the server).
BATCH = 1024
#: How long the worker lets a batch build up. Each exchange hands the GIL back and
#: forth a few times, and on busy cores every hand-off can cost the run a scheduler
#: delay, so fewer, larger exchanges are cheaper; but events waiting in the queue
#: are live objects the run's garbage collector keeps walking, so not too long.
#: 50 ms (was 10): ≈ 400-bar batches instead of ≈ 100 on bench/shadow.py; the
#: worker's CPU fell from ≈ 20 to ≈ 14 µs a bar (worker_cpu_ms, 3 runs each).
GATHER_S = 0.05


class ShadowObserver:
    """A RunObserver comparing every served indicator value with OCaml's, and a
    TradeObserver (engine/run/trades.py) replaying every bar's trading into an
    OCaml book (bridge/shadow/trades.py)."""

    def __init__(
        self, config: ShadowConfig, journal: MismatchSink | None = None, *, start: bool = True,
        gather_s: float = GATHER_S,
    ) -> None:
        self.config = config
        self._gather_s = gather_s  # see GATHER_S
        self._queue: collections.deque[BarEvent | OpenEvent] = collections.deque()
        self._capacity = config.queue_capacity
        self._hard_capacity = 4 * config.queue_capacity
        self.dropped = 0  # bars whose comparison was dropped (written by the run thread)
        self._overflowed = False  # the queue hit its hard limit: checking stopped
        self._candidate = Candidate(config, journal)
        #: trade events; never dropped: a book that misses a bar cannot be checked again
        self._trades: collections.deque[OpenBook | TradeEvent] = collections.deque()
        self._trade_candidate = TradeCandidate(config, journal, self._candidate.stats,
                                               self._candidate.logger)
        self._stop = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._work, name="tandem-shadow", daemon=True)
        if start:
            self.start()

    def start(self) -> None:
        """Start the worker thread (the constructor does unless ``start=False``)."""
        self._thread.start()

    # --- the run's thread: cheap and never raising ----------------------------------

    def stream_opened(
        self,
        symbol: str,
        name: str,
        params: Params,
        history: Mapping[str, npt.NDArray[np.float64]],
        value: IndicatorValue,
    ) -> None:
        """Queue the opening of a mirror stream (never dropped: one per stream)."""
        self._queue.append((symbol, name, params, history, value))

    def bar_values(
        self,
        symbol: str,
        bar: Bar,
        values: Served,
    ) -> None:
        """Queue a bar and the values served for it."""
        queue = self._queue
        if len(queue) < self._capacity:
            queue.append((symbol, bar, values))
        else:
            self._full(symbol, bar)

    def _full(self, symbol: str, bar: Bar) -> None:
        """Drop the comparison; keep the bar (streams stay in step) up to a hard limit."""
        self.dropped += 1
        if len(self._queue) < self._hard_capacity:
            self._queue.append((symbol, bar, None))
        elif not self._overflowed:
            self._overflowed = True  # the worker stops checking; see _work

    def book_opened(self, symbol: str, costs: Costs, execution: Execution) -> None:
        """Queue the opening of the symbol's OCaml book."""
        self._trades.append(("open", symbol, costs, execution))

    def bar_traded(self, symbol: str, bar: Bar, trading: BarTrading) -> None:
        """Queue a bar's trading for the OCaml book."""
        self._trades.append((symbol, bar, trading))

    @property
    def pending(self) -> int:
        """Events queued and not yet taken by the worker."""
        return len(self._queue)

    # --- the worker thread ------------------------------------------------------------

    def _work(self) -> None:
        queue, candidate, trades = self._queue, self._candidate, self._trades
        while True:
            if not queue and not trades:
                if self._stop.is_set():
                    break
                self._stop.wait(self._gather_s)
                continue
            if len(queue) < BATCH and len(trades) < BATCH and not self._stop.is_set():
                self._stop.wait(self._gather_s)  # let a batch build up (see GATHER_S)
            if trades:
                self._check_trades([trades.popleft() for _ in range(min(BATCH, len(trades)))])
            if queue:
                self._check_values([queue.popleft() for _ in range(min(BATCH, len(queue)))])
            # every step, the trade check's too (it was sampled after indicator batches only)
            candidate.stats.worker_cpu_s = time.thread_time()
        candidate.close()
        self._trade_candidate.close()
        candidate.stats.worker_cpu_s = time.thread_time()

    def _check_values(self, items: Sequence[BarEvent | OpenEvent]) -> None:
        if self._overflowed:
            self._abandon(items)
            return
        try:
            self._candidate.process(items)
        except Exception as exc:  # a bug of shadow mode must never reach the run
            log.exception("shadow: internal error; restarting the candidate")
            self._candidate.internal_error(exc)

    def _check_trades(self, items: Sequence[OpenBook | TradeEvent]) -> None:
        try:
            self._trade_candidate.process(items)
        except Exception as exc:  # a bug of shadow mode must never reach the run
            log.exception("shadow: internal error in the trade check")
            self._trade_candidate.fault(exc)

    def _abandon(self, items: Sequence[BarEvent | OpenEvent]) -> None:
        """After a hard overflow the logs have gaps: count and stop checking."""
        stats = self._candidate.stats
        if self._candidate.gave_up is None:
            self._candidate.gave_up = "the queue overflowed: shadow fell too far behind"
            stats.errors += 1
            log.error("shadow: %s; no more comparisons in this run", self._candidate.gave_up)
        stats.unchecked += sum(1 for item in items if len(item) == 3)

    # --- end of run ---------------------------------------------------------------------

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """Let the worker finish the queue (at most ``timeout`` s), then stop it."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if not self._thread.is_alive() and self._thread.ident is None:
            self._thread.start()  # never started: it drains the queue and stops
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._overflowed = True  # drains the rest without checking
            left = len(self._queue)
            self.dropped += left
            log.error("shadow: still %d events behind after %.0f s; not compared", left, timeout)

    def summary(self) -> Mapping[str, object]:
        """compared, mismatches, errors, dropped, candidate latency and details."""
        stats = self._candidate.stats
        lat = stats.latencies
        out: dict[str, Any] = {
            "compared": stats.compared,
            "mismatches": stats.mismatches,
            "errors": stats.errors,
            "dropped": self.dropped,
            # one round trip carries a batch of pipelined requests (about one per bar)
            "latency_ms": {"p50": percentile(lat, 50, 1e-3), "p99": percentile(lat, 99, 1e-3)},
            "latency_us_per_request": {
                "p50": percentile(stats.per_request, 50, 1e-6),
                "p99": percentile(stats.per_request, 99, 1e-6),
            },
            "round_trips": stats.round_trips,
            # its CPU is mostly time the run's thread waits for the GIL
            "worker_cpu_ms": 1e3 * stats.worker_cpu_s,
            "sample": self.config.sample,
            "not_identical": stats.not_identical,
            "max_scaled_error": stats.max_scaled_error,
            "max_ulp": stats.max_ulp,
            "restarts": stats.restarts,
            "lost_streams": stats.lost_streams,
            "unchecked_bars": stats.unchecked,
            "trade_bars": self._trade_candidate.trades.bars,
            "fills_compared": self._trade_candidate.trades.fills,
            "trade_mismatches": self._trade_candidate.trades.mismatches,
            "trade_unchecked_bars": self._trade_candidate.trades.unchecked,
            "runs_in": "run",  # a ShadowProcess's summary says "process"
        }
        if stats.first_error is not None:
            out["first_error"] = stats.first_error
        if self._candidate.gave_up is not None:
            out["gave_up"] = self._candidate.gave_up
        return out


def shadow_config(config: RunConfig) -> ShadowConfig:
    """Shadow mode's settings for a run: its options (checked by ShadowOptions) and
    enough retained bars to re-seed a stream over the run's whole window."""
    options = config.shadow or ShadowOptions()
    return ShadowConfig(
        sample=options.sample,
        timeout=options.timeout,
        handshake_timeout=options.timeout,
        retain_bars=max(config.window, RETAIN_BARS),
    )
