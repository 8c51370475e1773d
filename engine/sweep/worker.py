"""One task of a sweep, wherever it runs (this process, a pool worker, a Ray task).

``run_task`` derives the task's ``RunConfig`` from the sweep's (``dataclasses.replace``:
checked again), replays the task's slice of the pre-parsed bars (``ArrayFeed``) through
``engine.run.backtest`` — a fresh Lua runtime with the run's budgets, the same per-bar
rules as ``run`` — into an in-memory journal (the sweep's own process journals the
result, so a run on a remote Ray node needs no access to the file), and computes the
run's statistics from the equity the run marked (``RunResult.equity``).

Exposure per bar (for the statistics' exposure time) is derived from the trades: bar
i counts as exposed when a position was open at any time during it, i.e. some trade
has ``entry_timestamp <= t_i <= exit_timestamp`` (the still-open position: from its
entry on).

A run fails alone: a strategy that does not load, a symbol stopped after
``--max-errors`` consecutive errors (budget breaches included) or a feed error is a
``failed`` result naming the reason; the sweep goes on.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from engine.errors import TandemError
from engine.market.feeds.arrays import ArrayFeed, BarArrays
from engine.observer import RunObserver
from engine.report.stats import EquitySeries, TradeRecord, compute_statistics
from engine.run.config import RunConfig
from engine.run.journal import Journal
from engine.run.session import ObserverFactory, RunResult, backtest
from engine.state import StateMachine
from engine.sweep.plan import Task, TaskResult

MEMORY_JOURNAL = Path(":memory:")
STARTING_EQUITY = StateMachine().account.starting_equity


@dataclass(frozen=True, slots=True)
class WorkerContext:
    """What every task of a sweep shares: the base config, the data (symbol →
    columns), the bar interval and the observer factory (shadow mode) if any."""

    config: RunConfig
    arrays: Mapping[str, BarArrays]
    interval_ms: int
    observer_factory: ObserverFactory | None = None


class _MismatchSink:
    """Collects shadow mode's mismatch rows of one run (journaled by the sweep)."""

    def __init__(self) -> None:
        self.rows: list[tuple[object, ...]] = []

    def record_mismatch(self, *row: object) -> None:
        self.rows.append(row)


def run_task(ctx: WorkerContext, task: Task, *, in_thread: bool = False) -> TaskResult:
    """Run ``task``; never raises for what the run itself did wrong (a failed result).

    ``in_thread``: run the backtest on a helper thread, so that it installs no
    signal handlers (a pool worker leaves SIGINT / SIGTERM to its parent)."""
    if not in_thread:
        return _run(ctx, task)
    box: list[TaskResult | BaseException] = []

    def target() -> None:
        try:
            box.append(_run(ctx, task))
        except BaseException as exc:  # handed to the caller's thread
            box.append(exc)

    thread = threading.Thread(target=target, name=f"sweep-task-{task.index}")
    thread.start()
    thread.join()
    if isinstance(box[0], BaseException):
        raise box[0]
    return box[0]


def _run(ctx: WorkerContext, task: Task) -> TaskResult:
    started = time.perf_counter()
    sink = _MismatchSink()
    factory = _observer(ctx.observer_factory, sink)
    try:
        config = dataclasses.replace(ctx.config, params={**ctx.config.params, **task.params},
                                     symbols=(task.symbol,), journal=MEMORY_JOURNAL)
        feed = ArrayFeed(ctx.arrays[task.symbol], task.start, task.stop)
        result = backtest(config, observer_factory=factory, feed=feed)
    except TandemError as exc:
        return TaskResult(task, "failed", error=str(exc),
                          elapsed_s=time.perf_counter() - started)
    stats = statistics(ctx, task, result)
    return TaskResult(
        task,
        _status(result),
        error=_error(result),
        statistics=stats,
        summary=result.summary,
        trades=result.trades,
        equity=list(result.equity[task.symbol]) if task.out_of_sample else None,
        mismatches=tuple(sink.rows),
        elapsed_s=time.perf_counter() - started,
        strategy_sha256=str(result.summary["symbols"][task.symbol]["strategy_sha256"]),
    )


def _observer(
    factory: ObserverFactory | None, sink: _MismatchSink
) -> Callable[[RunConfig, Journal], RunObserver] | None:
    if factory is None:
        return None
    # the observer writes its mismatches to ``sink`` (it needs only record_mismatch)
    return lambda config, journal: factory(config, cast(Journal, sink))


def _status(result: RunResult) -> str:
    summary = result.summary
    if result.failure is not None or summary["stopped_symbols"] or summary["status"] != "finished":
        return "failed" if summary["status"] != "interrupted" else "interrupted"
    return "finished"


def _error(result: RunResult) -> str | None:
    if result.failure is not None:
        return str(result.failure)
    for detail in result.summary["symbols"].values():
        if detail["stopped"]:
            return str(detail["stopped"])
    return None


def equity_series(
    timestamps: np.ndarray[Any, np.dtype[np.int64]],
    equity: Sequence[float],
    trades: Sequence[TradeRecord],
    open_entry: int | None,
    interval_ms: int,
) -> EquitySeries:
    """The run's EquitySeries: one mark per bar at its close (``t + interval_ms``),
    exposure from the trades (module docstring)."""
    exposed = np.zeros(timestamps.size, dtype=np.bool_)
    for t in trades:
        lo, hi = np.searchsorted(timestamps, [t.entry_timestamp, t.exit_timestamp], "left")
        exposed[lo:hi + 1] = True
    if open_entry is not None:
        exposed[int(np.searchsorted(timestamps, open_entry, "left")):] = True
    return EquitySeries(timestamps + interval_ms, np.asarray(equity, dtype=np.float64),
                        exposed, STARTING_EQUITY, interval_ms)


def trade_records(rows: Sequence[Mapping[str, object]]) -> list[TradeRecord]:
    """The journal's trade dicts (``RunResult.trades``) as TradeRecords."""
    names = {f.name for f in dataclasses.fields(TradeRecord)}
    return [TradeRecord(**{k: v for k, v in row.items() if k in names}) for row in rows]  # type: ignore[arg-type]


def statistics(ctx: WorkerContext, task: Task, result: RunResult) -> dict[str, Any]:
    """compute_statistics of the task's run, as a dict (None = undefined)."""
    arrays = ctx.arrays[task.symbol]
    curve = result.equity[task.symbol]
    ts = arrays.timestamp[task.start:task.start + len(curve)]
    trades = trade_records(result.trades)
    position = result.summary["symbols"][task.symbol]["open_position"]
    entry = None if position is None else int(position["entry_timestamp"])
    eq = equity_series(ts, curve, trades, entry, ctx.interval_ms)
    closes = arrays.close[task.start:task.start + len(curve)]
    return dataclasses.asdict(compute_statistics(eq, trades, closes))
