"""Whole-process backtest time: Tandem vs backtesting.py vs backtrader; live per-bar latency.

The same 20/50 SMA-crossover strategy (``strategies/sma_crossover.lua``: a golden
cross arms an entry at the next bar's close if it holds, a 1 % stop, exit when
the fast SMA falls back below the slow one; 10 bps fees) over the same
100,000-bar CSV, each run as a fresh process, timed from
spawn to exit (import time included — that is what a user waits for):

* Tandem: ``python -m engine run --strategy strategies/sma_crossover.lua
  --feed csv:bench/data/sma_100k.csv --json``
* backtesting.py and backtrader: the equivalent script, run with the separate
  benchmark venv ``bench/.venv-peers`` (never project dependencies; create it
  with ``python3 -m venv bench/.venv-peers && bench/.venv-peers/bin/pip install
  backtesting backtrader``).

Bytecode: this machine sets ``PYTHONDONTWRITEBYTECODE=1``, so without help every
Tandem process would recompile all of ``engine/`` (≈ 50 modules, ≈ 60 ms) while
the peers load bytecode compiled when pip installed them. As a user's install
would, the script first compiles ``engine`` and ``bridge`` (``compileall``,
checked-hash pycs: never stale, so harmless to anyone editing the tree).

Then the agreement: Tandem (market orders, 1 unit, 1e9 cash) and backtesting.py
on the same trades, ``--fill close`` against ``trade_on_close=True`` and
``--fill next-open`` against backtesting.py's default; trade counts and P&L net
of fees side by side.

Then the per-bar latency of the live path (one ``SymbolRunner.on_bar``: window,
auto-exit, indicator streams, the Lua call, mark, journal) in-process, p50/p99.

    .venv/bin/python bench/backtest.py [--bars 100000] [--repeat 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import json
import os
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
PEERS_PY = ROOT / "bench" / ".venv-peers" / "bin" / "python"
STRATEGY = ROOT / "strategies" / "sma_crossover.lua"
sys.path.insert(0, str(ROOT))

# Both peers mirror strategies/sma_crossover.lua: a golden cross (fast SMA crosses
# above slow) arms an entry; on the next bar, enter long at the close if fast > slow
# still, with a stop 1 % below the entry, else disarm; exit at the close when fast
# falls below slow; the stop fills intrabar (or at the open on a gap). 10 bps fees.

BACKTESTING_PY = """
import sys
import pandas as pd
from backtesting import Backtest, Strategy

def SMA(values, n):
    return pd.Series(values).rolling(n).mean()

class SmaCross(Strategy):
    def init(self):
        self.fast = self.I(SMA, self.data.Close, 20)
        self.slow = self.I(SMA, self.data.Close, 50)
        self.armed = False

    def next(self):
        f, s, pf, ps = self.fast[-1], self.slow[-1], self.fast[-2], self.slow[-2]
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
on_close = len(sys.argv) < 3 or sys.argv[2] == "close"  # else backtesting.py's default
bt = Backtest(df, SmaCross, cash=1e9, commission=0.001, trade_on_close=on_close,
              finalize_trades=False)
stats = bt.run()
# closed trades and their P&L net of commissions (Trade.pl)
print(int(stats["# Trades"]), repr(float(stats["_trades"]["PnL"].sum())))
"""

BACKTRADER_PY = """
import sys
import pandas as pd
import backtrader as bt

class SmaCross(bt.Strategy):
    def __init__(self):
        self.fast = bt.ind.SMA(period=20)
        self.slow = bt.ind.SMA(period=50)
        self.armed = False
        self.stop_order = None
        self.trades = 0

    def notify_trade(self, trade):
        if trade.isclosed:
            self.trades += 1

    def next(self):
        f, s, pf, ps = self.fast[0], self.slow[0], self.fast[-1], self.slow[-1]
        if self.position:
            if f < s:
                if self.stop_order is not None:
                    self.cancel(self.stop_order)
                self.close()
        elif self.armed:
            self.armed = False
            if f > s:
                self.buy(size=1)
                self.stop_order = self.sell(size=1, exectype=bt.Order.Stop,
                                      price=self.data.close[0] * 0.99)
        elif pf <= ps and f > s:
            self.armed = True

df = pd.read_csv(sys.argv[1])
df.index = pd.to_datetime(df.pop("timestamp"), unit="ms")
cerebro = bt.Cerebro(stdstats=False)
cerebro.adddata(bt.feeds.PandasData(dataname=df))
cerebro.addstrategy(SmaCross)
cerebro.broker.setcash(1e9)
cerebro.broker.setcommission(commission=0.001)
cerebro.broker.set_coc(True)  # market orders fill at the signal bar's close
(strategy,) = cerebro.run()
print(strategy.trades, "nan")
"""


def make_csv(bars: int, seed: int) -> Path:
    """The benchmark CSV (header format), generated once by the simulated feed."""
    from engine.market.feeds import SimulatedFeed

    path = DATA / f"sma_{bars // 1000}k_seed{seed}.csv"
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["timestamp", "open", "high", "low", "close", "volume"])
        for b in SimulatedFeed(["BTCUSDT"], seed=seed, bars=bars).iter_bars():
            w.writerow([b.timestamp, repr(b.open), repr(b.high), repr(b.low), repr(b.close),
                        repr(b.volume)])
    tmp.replace(path)
    return path


def make_gapped_csv(bars: int, seed: int) -> Path:
    """The benchmark series with opening gaps: the simulated feed opens every bar at the
    previous close, where filling at the close or at the next open is the same price.
    Here each open moves by up to ±0.05 % (seeded), the wicks widened to contain it."""
    import random

    path = DATA / f"sma_{bars // 1000}k_seed{seed}_gaps.csv"
    if path.exists():
        return path
    rng = random.Random(seed)
    tmp = path.with_suffix(".tmp")
    with make_csv(bars, seed).open(newline="") as src, tmp.open("w", newline="") as f:
        rows = csv.reader(src)
        w = csv.writer(f)
        w.writerow(next(rows))
        for ts, o, h, lo, c, v in rows:
            op = float(o) * (1 + rng.uniform(-5e-4, 5e-4))
            w.writerow([ts, repr(op), repr(max(float(h), op)), repr(min(float(lo), op)), c, v])
    tmp.replace(path)
    return path


def time_process(cmd: list[str]) -> tuple[float, float, str]:
    """Wall-clock and CPU (user + sys) seconds of one process from spawn to exit, and
    its last stdout line. CPU time is the steadier number on a shared machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if out.returncode != 0:
        raise SystemExit(f"{cmd[:3]} failed ({out.returncode}):\n{out.stderr[-2000:]}")
    return elapsed, cpu, out.stdout.strip().splitlines()[-1]


#: The peers buy 1 unit with 1e9 cash; Tandem is told the same so the P&L compare as is.
SAME_TRADE = ["--param", "quantity=1", "--cash", "1e9"]


def tandem_cmd(path: Path, journal: Path, strategy: Path = STRATEGY,
               extra: tuple[str, ...] = ()) -> list[str]:
    """The Tandem backtest as a user would run it."""
    return [sys.executable, "-m", "engine", "run", "--strategy", str(strategy),
            "--feed", f"csv:{path}", "--symbols", "BTCUSDT", "--journal", str(journal), "--json",
            *extra]


def peer_cmd(script: str, path: Path, tmp: Path, name: str, *args: str) -> list[str] | None:
    """A peer's script run by the peers' venv, or None when that venv is missing."""
    if not PEERS_PY.exists():
        return None
    file = tmp / f"{name}.py"
    file.write_text(script)
    return [str(PEERS_PY), str(file), str(path), *args]


def outcome(kind: str, last: str) -> tuple[int, float]:
    """(closed trades, P&L net of fees) from a run's last stdout line."""
    if kind == "json":
        summary = json.loads(last)
        return int(summary["trades"]), float(summary["pnl"])
    trades, pnl = last.split()
    return int(trades), float(pnl)


def agreement(path: Path, strategy: Path) -> None:
    """Tandem against backtesting.py on the same trades, per fill mode: ``--fill close``
    against ``trade_on_close=True``, ``--fill next-open`` against its default."""
    print(f"\nsame trades ({path.relative_to(ROOT)}: 1 unit, 1e9 cash, 10 bps):")
    print(f"{'fill':<10} {'tandem trades':>13} {'tandem P&L':>14} {'bt.py trades':>12} "
          f"{'bt.py P&L':>14} {'P&L diff':>10}")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for fill in ("close", "next-open"):
            extra = ("--fill", fill, *SAME_TRADE)
            _, _, last = time_process(tandem_cmd(path, tmp / f"{fill}.sqlite", strategy, extra))
            trades, pnl = outcome("json", last)
            peer = peer_cmd(BACKTESTING_PY, path, tmp, "bt_py", fill)
            if peer is None:
                print(f"{fill:<10} {trades:>13} {pnl:>14.2f}  (bench/.venv-peers missing)")
                continue
            ptrades, ppnl = outcome("int", time_process(peer)[2])
            print(f"{fill:<10} {trades:>13} {pnl:>14.2f} {ptrades:>12} {ppnl:>14.2f} "
                  f"{pnl - ppnl:>10.2g}")


def compile_bytecode() -> None:
    """Compile engine/ and bridge/ as an installed package would have them (checked-hash
    pycs, validated against the source on every import, so never stale)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", "--invalidation-mode",
                    "checked-hash", "engine", "bridge"], cwd=ROOT, check=True)


def compare(path: Path, repeat: int, strategy: Path) -> dict[str, tuple[float, float]]:
    """Print the side-by-side table of whole-process times (best and median of
    ``repeat`` runs each, wall clock and CPU); return each engine's best (wall, CPU)."""
    compile_bytecode()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        rows: list[tuple[str, list[str] | None, str]] = [
            ("tandem (Lua)", tandem_cmd(path, tmp / "j.sqlite", strategy, tuple(SAME_TRADE)),
             "json"),
            ("backtesting.py", peer_cmd(BACKTESTING_PY, path, tmp, "bt_py"), "int"),
            ("backtrader", peer_cmd(BACKTRADER_PY, path, tmp, "btr"), "int"),
        ]
        best: dict[str, tuple[float, float]] = {}
        print(f"{'engine':<16} {'wall best':>10} {'wall med':>9} {'cpu best':>9} {'trades':>7}")
        for name, cmd, kind in rows:
            if cmd is None:
                print(f"{name:<16} (bench/.venv-peers missing)")
                continue
            walls, cpus, last = [], [], ""
            for _ in range(repeat):
                wall, cpu, last = time_process(cmd)
                walls.append(wall)
                cpus.append(cpu)
            trades = outcome(kind, last)[0]
            best[name] = (min(walls), min(cpus))
            print(f"{name:<16} {min(walls):>10.3f} {statistics.median(walls):>9.3f} "
                  f"{min(cpus):>9.3f} {trades:>7}")
        if "backtesting.py" in best:
            (pw, pc), (tw, tc) = best["backtesting.py"], best["tandem (Lua)"]
            print(f"tandem vs backtesting.py: {pw / tw:.2f}x faster wall, {pc / tc:.2f}x CPU "
                  f"(best of {repeat})")
    return best


def measure(bars: int = 100_000, repeat: int = 3) -> dict[str, float]:
    """Whole-process figures for a summary: Tandem's best wall/CPU seconds and its
    speed-up over each peer (peer time / Tandem time; absent without the peers' venv)."""
    best = compare(make_csv(bars, 42), repeat, STRATEGY)
    tw, tc = best["tandem (Lua)"]
    out = {"tandem_wall_s": tw, "tandem_cpu_s": tc}
    for name, key in (("backtesting.py", "backtesting_py"), ("backtrader", "backtrader")):
        if name in best:
            out[f"vs_{key}_wall"] = best[name][0] / tw
            out[f"vs_{key}_cpu"] = best[name][1] / tc
    return out


def latency(bars: int, seed: int, path: Path) -> None:
    """Per-bar latency of SymbolRunner.on_bar over simulated bars (the live path)."""
    import numpy as np

    from engine.indicators.api import IndicatorApi
    from engine.market.feeds import SimulatedFeed
    from engine.market.window import MarketDataWindow
    from engine.run.journal import Journal
    from engine.run.runner import SymbolRunner
    from engine.state import StateMachine
    from engine.strategy.lua_strategy import LuaStrategy

    with tempfile.TemporaryDirectory() as d, Journal(Path(d) / "j.sqlite") as journal:
        strategy = LuaStrategy(str(path))
        journal.start_run(command=["bench"], strategy_path=str(path),
                          strategy_sha256=strategy.sha256, params=strategy.params,
                          symbols=["BTCUSDT"], feed="sim", seed=seed, fee_bps=10.0,
                          slippage_bps=0.0)
        window = MarketDataWindow()
        runner = SymbolRunner("BTCUSDT", strategy, StateMachine(), window,
                              IndicatorApi("BTCUSDT", window, None), journal)
        clock = time.perf_counter_ns
        samples = np.empty(bars, dtype=np.int64)
        closed = np.zeros(bars, dtype=bool)
        trades = 0
        for i, bar in enumerate(SimulatedFeed(["BTCUSDT"], seed=seed, bars=bars).iter_bars()):
            t0 = clock()
            runner.on_bar(bar)
            samples[i] = clock() - t0
            if runner.stats.trades != trades:  # this bar closed a trade: a journal commit
                trades, closed[i] = runner.stats.trades, True
    us = samples / 1000.0
    print(f"live path, SymbolRunner.on_bar per bar ({bars} bars, {trades} trades):")
    for name, part in (("all bars", us), ("bars closing a trade (commit)", us[closed]),
                       ("other bars", us[~closed])):
        p50, p99, p999 = np.percentile(part, [50, 99, 99.9])
        print(f"  {name:<30} n={part.size:>6}  p50 {p50:7.2f} µs  p99 {p99:8.2f} µs  "
              f"p99.9 {p999:8.1f} µs  max {part.max():8.1f} µs")


def profile(path: Path, strategy: Path) -> None:
    """cProfile of the Tandem backtest in-process; the top functions by own time."""
    from engine.cli import main

    with tempfile.TemporaryDirectory() as d:
        argv = tandem_cmd(path, Path(d) / "j.sqlite", strategy)[3:]
        prof = cProfile.Profile()
        stdout = sys.stdout
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - restored below
        try:
            prof.runcall(main, argv)
        finally:
            sys.stdout.close()
            sys.stdout = stdout
    pstats.Stats(prof).sort_stats("tottime").print_stats(20)


def main() -> None:
    """Parse the options and print the tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--strategy", type=Path, default=STRATEGY, help="Tandem's strategy file")
    ap.add_argument("--profile", action="store_true", help="also print a cProfile table")
    args = ap.parse_args()
    path = make_csv(args.bars, args.seed)
    print(f"data: {path.relative_to(ROOT)} ({args.bars} bars)")
    compare(path, args.repeat, args.strategy)
    agreement(make_gapped_csv(args.bars, args.seed), args.strategy)
    latency(args.bars, args.seed, args.strategy)
    if args.profile:
        profile(path, args.strategy)


if __name__ == "__main__":
    main()
