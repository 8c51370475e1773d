"""One run in process: ``backtest(RunConfig) -> RunResult`` (the Python API).

Wires feed, strategies, runners, orchestrator and journal for one ``RunConfig``,
runs the feed to its end (or ``bars``, or SIGINT / SIGTERM) and returns the
summary and the closed trades. It prints nothing and configures no logging:
the ``run`` command (engine/run/command.py) does that around it.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, cast

import numpy as np

from engine.errors import TandemError
from engine.indicators.api import IndicatorApi
from engine.market.feeds import Feed, open_feed, parse_interval
from engine.market.window import MarketDataWindow
from engine.observer import RunObserver
from engine.run.config import RunConfig
from engine.run.equity import EquityLog, observed_interval
from engine.run.journal import Journal
from engine.run.orchestrator import Orchestrator, ProgressCallback
from engine.run.records import closed_trade_record, statistics_json
from engine.run.reload import StrategyReloader
from engine.run.runner import Strategy, SymbolRunner
from engine.run.summary import build_summary, strict_json
from engine.run.trades import RecordingMachine, TradeObserver
from engine.state import Costs, StateMachine

#: Builds the run's observer (shadow mode) from its config and journal; the
#: journal's ``record_mismatch`` is thread-safe. engine/cli.py wires bridge's in.
ObserverFactory = Callable[[RunConfig, Journal], RunObserver]

#: ``progress(total bars or None)`` → (context shown around the run, update(bars) or None).
ProgressFactory = Callable[
    [int | None], tuple[AbstractContextManager[Any], ProgressCallback | None]
]


@dataclass(frozen=True)
class RunResult:
    """What a run produced.

    ``summary`` is the object ``run --json`` prints (``status``: finished,
    interrupted or failed; bars, trades, pnl, fees, per-symbol detail under
    ``symbols``…); ``trades`` are the closed trades as journaled (one dict per
    ``trades`` row: symbol, side, quantity, entry/exit timestamp and price,
    exit_reason, fees, pnl); ``failure`` is the error of a feed that failed
    mid-run (the summary then covers what ran before it); ``equity`` is each
    symbol's marked equity after every bar it ran (the statistics' input)."""

    run_id: int
    summary: Mapping[str, Any]
    trades: tuple[Mapping[str, object], ...]
    failure: TandemError | None = None
    #: symbol → marked equity after each of its bars (``Account.equity_curve``)
    equity: Mapping[str, Sequence[float]] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """finished, interrupted (by a signal) or failed (the feed failed)."""
        return str(self.summary["status"])


def backtest(
    config: RunConfig,
    *,
    observer_factory: ObserverFactory | None = None,
    progress: ProgressFactory | None = None,
    feed: Feed | None = None,
    record_equity: bool = True,
) -> RunResult:
    """Run ``config`` in this process and return its result.

    ``feed``: bars to run instead of opening ``config.feed`` (which then only
    names the source in the journal), e.g. a sweep's pre-parsed data
    (``engine.market.feeds.ArrayFeed``). ``record_equity=False`` journals no
    equity series nor ``run_stats`` (to measure what they cost: bench/report.py;
    the report then has no curve to draw).
    Raises TandemError before anything is journaled for what can be known up
    front (a feed that cannot be opened, a strategy that does not load or names
    an unknown parameter); a feed failing mid-run is returned in ``failure``.
    """
    started = time.perf_counter()
    paths = config.strategy_paths()
    if feed is None:
        feed = open_feed(
            config.feed,
            config.symbols,
            seed=config.seed,
            bars=config.bars,
            interval=config.interval,
            ws_url=config.binance_ws_url,
            rest_url=config.binance_rest_url,
            history=config.history_bars(),
        )
    load = partial(_load_strategy, config)
    strategies = {symbol: load(paths[symbol], symbol) for symbol in config.symbols}
    # a replayed feed commits once a second, not per trade (docs/design.md §8)
    with _run_gc(), Journal(config.journal, commit_trades=not _replayed(feed)) as journal:
        run_id = _start_run(journal, config, paths, strategies)
        try:
            summary, failure, equity = _run(
                config, paths, feed, strategies, load, journal, observer_factory, progress,
                record_equity,
            )
        except BaseException:
            journal.end_run("failed", {"run_id": run_id})  # a bug or an unexpected exit
            raise
        elapsed = time.perf_counter() - started
        summary = strict_json({"run_id": run_id, **summary, "elapsed_s": elapsed})
        journal.end_run(summary["status"], summary)
        trades = tuple(journal.trades(run_id))
    return RunResult(run_id, summary, trades, failure, equity)


#: Net container allocations between young-generation collections during a run.
RUN_GC_THRESHOLD = 10_000


@contextlib.contextmanager
def _run_gc() -> Iterator[None]:
    """Cyclic garbage collection tuned for the run; back to normal afterwards
    (callers in a long-lived process, e.g. tests).

    Modules and start-up objects live for the whole run: frozen, the collector
    does not scan them again and again. And the per-bar objects (bars, results)
    are freed by reference counting as the window moves on, so the net count of
    live new containers stays in the low thousands: at the default threshold
    (700) a 100k-bar backtest ran ~100 young collections that found almost
    nothing (≈ 9-15 ms); at RUN_GC_THRESHOLD it runs none. Cyclic garbage is
    still collected, once that many containers accumulate."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(RUN_GC_THRESHOLD, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def _start_run(
    journal: Journal,
    config: RunConfig,
    paths: Mapping[str, Path],
    strategies: Mapping[str, Strategy],
) -> int:
    """The ``runs`` row, with the main strategy's hash and effective parameters."""
    first = next((st for s, st in strategies.items() if paths[s] == config.strategy), None)
    first = first or next(iter(strategies.values()))
    return journal.start_run(
        command=sys.argv,
        strategy_path=str(config.strategy),
        strategy_sha256=first.sha256,
        params=first.params,
        symbols=list(strategies),
        feed=config.feed,
        seed=config.seed if config.feed.strip() == "sim" else None,
        fee_bps=config.fee_bps,
        slippage_bps=config.slippage_bps,
        interval_ms=parse_interval(config.interval),
        execution=config.execution(),
    )


def _run(
    config: RunConfig,
    paths: Mapping[str, Path],
    feed: Feed,
    strategies: Mapping[str, Strategy],
    load: Callable[[Path, str], Strategy],
    journal: Journal,
    observer_factory: ObserverFactory | None,
    progress: ProgressFactory | None,
    record_equity: bool,
) -> tuple[dict[str, Any], TandemError | None, dict[str, Sequence[float]]]:
    """Run the feed through the runners; the summary, the error that ended the
    run early (a feed that failed for good), if any, and each symbol's equity curve."""
    observer = None if observer_factory is None else observer_factory(config, journal)
    try:
        runners = {s: _runner(config, s, st, journal, observer, record_equity)
                   for s, st in strategies.items()}
        reloader = _reloader(config, paths, runners, load, journal)
        logs = [r.equity for r in runners.values() if r.equity is not None]
        orchestrator = Orchestrator(runners, feed, journal, bars=config.bars,
                                    reloader=reloader, equity=logs)
    except BaseException:
        if observer is not None:
            observer.close()  # e.g. shadow mode's process, started by the factory
        raise
    failure: TandemError | None = None
    try:
        shown: AbstractContextManager[Any] = contextlib.nullcontext()
        if progress is not None:
            shown, orchestrator.progress = progress(feed.total)
        with shown:
            status = _orchestrate(orchestrator, feed)
    except TandemError as exc:
        status, failure = "failed", exc
    finally:
        if observer is not None:
            observer.close()
    _finish_equity(config, runners, journal)
    summary = build_summary(
        runners,
        feed_stats=feed.stats,
        feed_rejected=orchestrator.feed_rejected,
        feed_duplicates=orchestrator.feed_duplicates,
        shadow=None if observer is None else observer.summary(),
        meta={
            "status": status,
            "signal": orchestrator.stop_signal,
            "journal": str(journal.path),
            "feed": config.feed,
        },
    )
    curves: dict[str, Sequence[float]] = {
        s: r.machine.account.equity_curve for s, r in runners.items()}
    return summary, failure, curves


def _finish_equity(config: RunConfig, runners: Mapping[str, SymbolRunner],
                   journal: Journal) -> None:
    """Write the rest of each equity series and the statistics of the whole run."""
    configured = parse_interval(config.interval)
    for symbol, runner in runners.items():
        series = runner.equity
        if series is None:
            continue
        series.advance(final=True)
        series.write(journal)
        pos = runner.machine.position
        times = np.frombuffer(series.times, dtype=np.int64)
        interval = observed_interval(times, configured)
        del times  # the view pins the array
        trades = [closed_trade_record(t) for t in runner.machine.account.trades]
        stats = series.statistics(trades, None if pos is None else pos.entry_time, interval)
        journal.record_run_stats(symbol, interval, statistics_json(stats))


def _replayed(feed: Feed) -> bool:
    """A feed with a plain iterator (simulated, CSV, a sweep's arrays): bars replayed
    from data, not arriving live."""
    return callable(getattr(feed, "iter_bars", None))


def _orchestrate(orchestrator: Orchestrator, feed: Feed) -> str:
    """Run the orchestrator: without an event loop for a feed with a plain iterator
    (simulated, CSV), else (a live feed) under asyncio."""
    if _replayed(feed):
        return orchestrator.run_sync()
    import asyncio

    return asyncio.run(orchestrator.run())


def _reloader(
    config: RunConfig,
    paths: Mapping[str, Path],
    runners: Mapping[str, SymbolRunner],
    load: Callable[[Path, str], Strategy],
    journal: Journal,
) -> StrategyReloader | None:
    """With ``watch``: a reloader watching each strategy file for its symbols."""
    if not config.watch:
        return None
    groups: dict[Path, list[SymbolRunner]] = {}
    for symbol, runner in runners.items():
        groups.setdefault(paths[symbol], []).append(runner)
    return StrategyReloader(groups, load, journal)


def _load_strategy(config: RunConfig, path: Path, symbol: str) -> Strategy:
    return config.load_strategy(path, logging.getLogger(f"tandem.lua.{symbol}").info)


def _runner(
    config: RunConfig,
    symbol: str,
    strategy: Strategy,
    journal: Journal,
    observer: RunObserver | None,
    record_equity: bool = True,
) -> SymbolRunner:
    window = MarketDataWindow(config.window)
    costs = Costs(fee_bps=config.fee_bps, slippage_bps=config.slippage_bps)
    api = IndicatorApi(symbol, window, observer)
    trades = observer if callable(getattr(observer, "bar_traded", None)) else None
    execution = config.execution()
    machine = StateMachine(costs=costs, execution=execution) if trades is None \
        else RecordingMachine(costs, execution)
    account = machine.account
    equity = EquityLog(symbol, account.marks, account.starting_equity) if record_equity \
        else None
    return SymbolRunner(symbol, strategy, machine, window, api, journal, config.max_errors,
                        equity=equity,
                        trades=None if trades is None else cast(TradeObserver, trades))
