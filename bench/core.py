"""Per-bar cost of the engine core: window push + state-machine update (no strategy).

Prints microseconds per bar for:
  * building a validated Bar,
  * window.push + machine.auto_exit + machine.mark while idle,
  * the same while holding a position whose stop and target are never touched,
  * the same while a stop/target round trip happens every 20 bars,
  * idle and in position again with ``machine.begin_bar`` (waiting orders, then
    auto-exit: the per-bar call of the order model) in place of ``auto_exit``.
Goal (issue 5): <= 2 us per bar for push + update. Best of several runs, timed
with the process's CPU time (time.process_time), which is not inflated when
other processes share the cores; wall-clock figures are printed beside it.

    .venv/bin/python bench/core.py [--bars N] [--repeat R]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

from engine.market import Bar, MarketDataWindow
from engine.state import EnterLong, StateMachine


def make_rows(n: int, seed: int = 1) -> list[tuple[float, float, float, float, float]]:
    """A random walk of (open, high, low, close, volume) rows."""
    rng = random.Random(seed)
    rows = []
    close = 100.0
    for _ in range(n):
        o = close
        close = o * (1.0 + rng.gauss(0.0, 0.002))
        hi = max(o, close) * (1.0 + abs(rng.gauss(0.0, 0.001)))
        lo = min(o, close) * (1.0 - abs(rng.gauss(0.0, 0.001)))
        rows.append((o, hi, lo, close, rng.uniform(1.0, 100.0)))
    return rows


def best_of(repeat: int, run: Callable[[], tuple[float, float]]) -> tuple[float, float]:
    """The smallest CPU and wall timings (seconds) of ``repeat`` runs."""
    runs = [run() for _ in range(repeat)]
    return min(r[0] for r in runs), min(r[1] for r in runs)


def _clock() -> tuple[float, float]:
    return time.process_time(), time.perf_counter()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    cpu, wall = _clock()
    return cpu - start[0], wall - start[1]


def time_bars(rows: list[tuple[float, float, float, float, float]]) -> tuple[float, float]:
    start = _clock()
    for i, (o, h, lo, c, v) in enumerate(rows):
        Bar("BTCUSDT", i * 60_000, o, h, lo, c, v)
    return _since(start)


def time_core(bars: list[Bar], in_position: bool, cycle: int = 0,
              begin_bar: bool = False) -> tuple[float, float]:
    """push + auto_exit (or begin_bar) + mark per bar; optionally re-enter every ``cycle``
    bars."""
    window = MarketDataWindow()
    machine = StateMachine()
    if in_position:
        first = bars[0]
        machine.begin_analysis({}, first)
        machine.execute(EnterLong(1.0, stop_loss=1e-6, take_profit=1e9), first)
    push, mark = window.push, machine.mark
    auto_exit = machine.begin_bar if begin_bar else machine.auto_exit
    start = _clock()
    for i, bar in enumerate(bars):
        push(bar)
        auto_exit(bar)
        mark(bar)
        if cycle and i % cycle == 0 and machine.position is None:
            machine.begin_analysis({}, bar)
            machine.execute(EnterLong(1.0, stop_loss=bar.close * 0.995,
                                      take_profit=bar.close * 1.005), bar)
    return _since(start)


def main() -> None:
    """Run the benchmark and print microseconds per bar."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bars", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    n = args.bars
    rows = make_rows(n)
    bars = [Bar("BTCUSDT", i * 60_000, *row) for i, row in enumerate(rows)]
    us = 1e6 / n
    print(f"bars: {n:,}, best of {args.repeat}; us/bar: cpu (wall)")
    cpu, wall = best_of(args.repeat, lambda: time_bars(rows))
    print(f"  {'Bar construction (validated, incl. loop)':<58} {cpu * us:6.3f} ({wall * us:.3f})")
    cases = (("idle", False, 0, False), ("in position, levels untouched", True, 0, False),
             ("entry every 20 bars, +-0.5% exits", False, 20, False),
             ("idle", False, 0, True), ("in position, levels untouched", True, 0, True))
    for label, in_pos, cycle, begin in cases:
        cpu, wall = best_of(args.repeat, lambda in_pos=in_pos, cycle=cycle, begin=begin:
                            time_core(bars, in_pos, cycle, begin))
        call = "begin_bar" if begin else "auto_exit"
        print(f"  {f'push + {call} + mark, ' + label:<58} {cpu * us:6.3f} ({wall * us:.3f})")


if __name__ == "__main__":
    main()
