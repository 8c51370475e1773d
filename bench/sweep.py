"""Parameter sweep: Tandem ``sweep`` vs backtesting.py's ``Backtest.optimize()``; --jobs scaling.

The SMA cross of bench/backtest.py (``strategies/sma_crossover.lua`` and its
backtesting.py twin, parameterised) over the same 100,000-bar CSV and the same
48 combinations — fast 5, 10, …, 60 (12) × slow 20, 80, 140, 200 (4) — each tool
as one whole process, timed from spawn to exit:

* Tandem: ``python -m engine sweep --strategy strategies/sma_crossover.lua
  --feed csv:bench/data/sma_100k_seed42.csv --grid fast=5:60:5
  --grid slow=20,80,140,200 --jobs N --json`` (a fresh journal each time), N = 1, 2;
* backtesting.py 0.6 ``Backtest.optimize(fast=range(5, 61, 5), slow=[20, 80, 140, 200],
  maximize="Sharpe Ratio")`` in ``bench/.venv-peers`` (it uses a process pool of
  its own on all cores).

Then, in process, where one sweep run's time goes: the backtest (Lua calls, state
machine, indicator streams, window) and the statistics, in µs per bar.

    .venv/bin/python bench/sweep.py [--repeat 1] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from backtest import (  # noqa: E402  (bench/backtest.py: the data and the process timer)
    PEERS_PY,
    STRATEGY,
    compile_bytecode,
    make_csv,
    time_process,
)

FAST = range(5, 61, 5)
SLOW = (20, 80, 140, 200)
GRID = ["--grid", "fast=5:60:5", "--grid", "slow=" + ",".join(map(str, SLOW))]

OPTIMIZE_PY = f"""
import sys
import pandas as pd
from backtesting import Backtest, Strategy

def SMA(values, n):
    return pd.Series(values).rolling(n).mean()

class SmaCross(Strategy):
    fast = 20
    slow = 50

    def init(self):
        self.f = self.I(SMA, self.data.Close, self.fast)
        self.s = self.I(SMA, self.data.Close, self.slow)
        self.armed = False

    def next(self):
        f, s, pf, ps = self.f[-1], self.s[-1], self.f[-2], self.s[-2]
        if self.position:
            if f < s:
                self.position.close()
        elif self.armed:
            self.armed = False
            if f > s:
                self.buy(size=1, sl=self.data.Close[-1] * 0.99)
        elif pf <= ps and f > s:
            self.armed = True

df = pd.read_csv(sys.argv[1])
df.index = pd.to_datetime(df.pop("timestamp"), unit="ms")
df.columns = ["Open", "High", "Low", "Close", "Volume"]
bt = Backtest(df, SmaCross, cash=1e9, commission=0.001, trade_on_close=True,
              finalize_trades=False)
stats, heat = bt.optimize(fast=list({list(FAST)!r}), slow=list({list(SLOW)!r}),
                          maximize="Sharpe Ratio", return_heatmap=True)
print(len(heat))
"""


def tandem_cmd(path: Path, journal: Path, jobs: int) -> list[str]:
    """The Tandem sweep as a user would run it, trading like the peer (1 unit, 1e9 cash:
    at its defaults, 0.1 units and 10,000 of cash, the cash check stops the strategy)."""
    return [sys.executable, "-m", "engine", "sweep", "--strategy", str(STRATEGY),
            "--feed", f"csv:{path}", *GRID, "--param", "quantity=1", "--cash", "1e9",
            "--jobs", str(jobs), "--journal", str(journal), "--json"]


def compare(path: Path, repeat: int) -> None:
    """The side-by-side table of whole-process times (best of ``repeat``)."""
    import json

    compile_bytecode()
    rows: dict[str, tuple[float, float, int]] = {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        cmds: list[tuple[str, list[str] | None, str]] = [
            ("tandem --jobs 1", None, "1"), ("tandem --jobs 2", None, "2")]
        if PEERS_PY.exists():
            script = tmp / "optimize.py"
            script.write_text(OPTIMIZE_PY)
            cmds.append(("backtesting.py optimize", [str(PEERS_PY), str(script), str(path)], ""))
        print(f"{'sweep (48 runs x 100k bars)':<28} {'wall s':>8} {'cpu s':>8} {'runs':>5}")
        for name, cmd, jobs in cmds:
            best = (float("inf"), float("inf"), 0)
            for i in range(repeat):
                argv = cmd or tandem_cmd(path, tmp / f"j{jobs}_{i}.sqlite", int(jobs))
                wall, cpu, last = time_process(argv)
                runs = json.loads(last)["tasks"] if cmd is None else int(last)
                best = min(best, (wall, cpu, runs))
            rows[name] = best
            print(f"{name:<28} {best[0]:>8.2f} {best[1]:>8.2f} {best[2]:>5}")
        if not PEERS_PY.exists():
            print("backtesting.py: bench/.venv-peers missing (make bench creates it)")
    one, two = rows["tandem --jobs 1"][0], rows["tandem --jobs 2"][0]
    print(f"scaling --jobs 1 -> 2: {one / two:.2f}x")
    if "backtesting.py optimize" in rows:
        peer = rows["backtesting.py optimize"][0]
        print(f"tandem --jobs 2 vs backtesting.py optimize: {peer / two:.2f}x faster (wall)")


def breakdown(path: Path, profile: bool) -> None:
    """µs per bar of one sweep run in process, split into backtest and statistics."""
    from engine.run.config import RunConfig
    from engine.run.session import backtest
    from engine.sweep.data import load_dataset
    from engine.sweep.plan import Task
    from engine.sweep.worker import MEMORY_JOURNAL, WorkerContext, run_task, statistics

    config = RunConfig(strategy=STRATEGY, feed=f"csv:{path}", journal=MEMORY_JOURNAL,
                       params={"quantity": 1}, cash=1e9)  # as tandem_cmd
    t0 = time.perf_counter()
    data = load_dataset(config)
    parse = time.perf_counter() - t0
    ctx = WorkerContext(config, data.arrays, data.interval_ms)
    n = len(data.arrays["BTCUSDT"])
    task = Task(0, {"fast": 20, "slow": 80, "quantity": 1}, "BTCUSDT", 0, n)
    run_task(ctx, task)  # warm: imports, the first Lua runtime
    t0 = time.perf_counter()
    result = run_task(ctx, task)
    total = time.perf_counter() - t0
    from engine.market.feeds.arrays import ArrayFeed

    bt = backtest(config.__class__(strategy=STRATEGY, feed=config.feed, journal=MEMORY_JOURNAL,
                                   params=task.params, cash=1e9),
                  feed=ArrayFeed(data.arrays["BTCUSDT"]))
    t0 = time.perf_counter()
    statistics(ctx, task, bt)
    stats_s = time.perf_counter() - t0
    us = 1e6 / n
    print(f"one sweep run in process ({n} bars, {result.statistics and result.statistics['trades']}"
          f" trades): {total * us:.2f} µs/bar = backtest {(total - stats_s) * us:.2f} + "
          f"statistics {stats_s * us:.2f}; the data parsed once: {parse * 1e3:.0f} ms")
    if profile:
        prof = cProfile.Profile()
        prof.runcall(run_task, ctx, task)
        pstats.Stats(prof).sort_stats("tottime").print_stats(12)


def main() -> None:
    """Parse the options and print the tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    path = make_csv(100_000, 42)
    print(f"data: {path.relative_to(ROOT)}")
    compare(path, args.repeat)
    breakdown(path, args.profile)


if __name__ == "__main__":
    main()
