"""``python -m engine run``: wire feed, strategies, runners, journal and report.

Exit codes: 0 — the run ended normally; 1 — it ended but a symbol's strategy
was stopped after too many consecutive errors, or ``--shadow-strict`` saw a
mismatch or shadow error; 2 — a usage or data error (printed by engine/cli.py);
128 + signal — stopped by SIGINT / SIGTERM (summary printed, journal complete).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from engine.errors import TandemError
from engine.indicators.api import IndicatorApi
from engine.market.feeds import Feed, open_feed
from engine.market.window import MarketDataWindow
from engine.run.config import check_limits, parse_params, parse_symbols, strategy_paths
from engine.run.journal import Journal
from engine.observer import RunObserver
from engine.run.orchestrator import Orchestrator
from engine.run.reload import StrategyReloader
from engine.run.report import progress_bar, render_summary
from engine.run.runner import Strategy, SymbolRunner
from engine.run.summary import build_summary, strict_json
from engine.state import Costs, StateMachine
from engine.strategy.lua_strategy import LuaStrategy

log = logging.getLogger("tandem.run")

#: Builds the shadow observer from the parsed arguments (engine/cli.py wires it).
ObserverFactory = Callable[..., RunObserver | None]


def run_main(args: argparse.Namespace, observer_factory: ObserverFactory | None = None) -> int:
    """Run ``args.strategy`` over ``args.feed``; print the summary; return the exit code."""
    started = time.perf_counter()
    _setup_logging()
    symbols = parse_symbols(args.symbols)
    overrides = parse_params(args.param)
    paths = strategy_paths(args.strategy, args.strategy_for, symbols)
    check_limits(
        bars=args.bars,
        max_errors=args.max_errors,
        window=args.window,
        fee_bps=args.fee_bps,
        slippage_bps=args.slippage_bps,
    )
    feed = open_feed(
        args.feed,
        symbols,
        seed=args.seed,
        bars=args.bars,
        interval=args.interval,
        ws_url=args.binance_ws_url,
        rest_url=args.binance_rest_url,
    )
    load = partial(_load_strategy, args, overrides)
    strategies = {symbol: load(paths[symbol], symbol) for symbol in symbols}
    with _run_gc(), Journal(args.journal) as journal:
        run_id = _start_run(journal, args, paths, strategies)
        try:
            summary, failure = _run(
                args, paths, feed, strategies, load, journal, observer_factory
            )
        except BaseException:
            journal.end_run("failed", {"run_id": run_id})  # a bug or an unexpected exit
            raise
        elapsed = time.perf_counter() - started
        summary = strict_json({"run_id": run_id, **summary, "elapsed_s": elapsed})
        journal.end_run(summary["status"], summary)
    _print(args, summary)
    if failure is not None:
        raise failure  # after the summary: what ran until the failure is reported
    return _exit_code(args, summary)


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
    args: argparse.Namespace,
    paths: Mapping[str, Path],
    strategies: Mapping[str, Strategy],
) -> int:
    """The ``runs`` row, with the main strategy's hash and effective parameters."""
    main = Path(args.strategy)
    first = next((st for s, st in strategies.items() if paths[s] == main), None)
    first = first or next(iter(strategies.values()))
    return journal.start_run(
        command=sys.argv,
        strategy_path=args.strategy,
        strategy_sha256=first.sha256,
        params=first.params,
        symbols=list(strategies),
        feed=args.feed,
        seed=args.seed if args.feed.strip() == "sim" else None,
        fee_bps=args.fee_bps,
        slippage_bps=args.slippage_bps,
    )


def _run(
    args: argparse.Namespace,
    paths: Mapping[str, Path],
    feed: Feed,
    strategies: Mapping[str, Strategy],
    load: Callable[[Path, str], Strategy],
    journal: Journal,
    observer_factory: ObserverFactory | None,
) -> tuple[dict[str, Any], TandemError | None]:
    """Run the feed through the runners; the summary, and the error that ended the
    run early (a feed that failed for good), if any."""
    observer = _make_observer(observer_factory, args, journal)
    runners = {s: _runner(args, s, st, journal, observer) for s, st in strategies.items()}
    reloader = _reloader(args, paths, runners, load, journal)
    orchestrator = Orchestrator(runners, feed, journal, bars=args.bars, reloader=reloader)
    failure: TandemError | None = None
    try:
        shown, orchestrator.progress = progress_bar(None if args.json else feed.total)
        with shown:
            status = _orchestrate(orchestrator, feed)
    except TandemError as exc:
        status, failure = "failed", exc
    finally:
        if observer is not None:
            observer.close()
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
            "feed": args.feed,
        },
    )
    return summary, failure


def _orchestrate(orchestrator: Orchestrator, feed: Feed) -> str:
    """Run the orchestrator: without an event loop for a feed with a plain iterator
    (simulated, CSV), else (a live feed) under asyncio."""
    if callable(getattr(feed, "iter_bars", None)):
        return orchestrator.run_sync()
    import asyncio

    return asyncio.run(orchestrator.run())


def _reloader(
    args: argparse.Namespace,
    paths: Mapping[str, Path],
    runners: Mapping[str, SymbolRunner],
    load: Callable[[Path, str], Strategy],
    journal: Journal,
) -> StrategyReloader | None:
    """With ``--watch``: a reloader watching each strategy file for its symbols."""
    if not args.watch:
        return None
    groups: dict[Path, list[SymbolRunner]] = {}
    for symbol, runner in runners.items():
        groups.setdefault(paths[symbol], []).append(runner)
    return StrategyReloader(groups, load, journal)


def _load_strategy(
    args: argparse.Namespace, overrides: Mapping[str, str], path: Path, symbol: str
) -> Strategy:
    lua_log = logging.getLogger(f"tandem.lua.{symbol}")
    return LuaStrategy(
        str(path),
        params=overrides,
        instruction_budget=args.lua_budget,
        memory_mb=args.lua_memory_mb,
        log=lua_log.info,
    )


def _runner(
    args: argparse.Namespace,
    symbol: str,
    strategy: Strategy,
    journal: Journal,
    observer: RunObserver | None,
) -> SymbolRunner:
    window = MarketDataWindow(args.window)
    machine = StateMachine(costs=Costs(fee_bps=args.fee_bps, slippage_bps=args.slippage_bps))
    api = IndicatorApi(symbol, window, observer)
    return SymbolRunner(symbol, strategy, machine, window, api, journal, args.max_errors)


def _make_observer(
    factory: ObserverFactory | None, args: argparse.Namespace, journal: Journal
) -> RunObserver | None:
    """``factory(args, journal)`` — the journal's ``record_mismatch`` is thread-safe —
    or ``factory(args)`` for a factory taking one argument."""
    if factory is None:
        return None
    import inspect  # only with an observer: the module costs ≈ 10 ms to import

    try:
        arity = len(inspect.signature(factory).parameters)
    except (TypeError, ValueError):
        arity = 2
    return factory(args, journal) if arity >= 2 else factory(args)


def _print(args: argparse.Namespace, summary: Mapping[str, Any]) -> None:
    if args.json:
        sys.stdout.flush()
        print(json.dumps(summary, separators=(",", ":"), allow_nan=False))
    else:
        render_summary(summary)


def _exit_code(args: argparse.Namespace, summary: Mapping[str, Any]) -> int:
    if summary["signal"] is not None:
        return 128 + int(summary["signal"])
    if summary["stopped_symbols"]:
        return 1
    shadow = summary["shadow"]
    if args.shadow_strict and (shadow["mismatches"] or shadow["errors"]):
        print(
            f"error: --shadow-strict: {shadow['mismatches']} mismatch(es), "
            f"{shadow['errors']} shadow error(s); see the journal's shadow_mismatches",
            file=sys.stderr,
        )
        return 1
    return 0


def _setup_logging() -> None:
    """Run messages (strategy errors, reloads, Lua ``log``) go to stderr."""
    logger = logging.getLogger("tandem")
    if not logger.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


class _StderrHandler(logging.Handler):
    """Writes to the *current* ``sys.stderr`` (which tests and callers may replace)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)
