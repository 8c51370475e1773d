"""Cost of one strategy call (LuaStrategy.step) that reads two indicators.

    .venv/bin/python bench/strategy.py [--bars 50000]

Prints p50/p99/mean in microseconds of: a bare lupa call (the floor), the
strategy call with the instruction hook on (what every run pays), and the
indicator update that precedes it (IndicatorApi.on_bar, two SMA streams).
Goal (issue 6): strategy call p50 <= 2 µs.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import lupa.lua54 as lupa

from engine.indicators.api import IndicatorApi
from engine.market.feeds.simulated import SimulatedFeed
from engine.market.window import MarketDataWindow
from engine.state import StateMachine
from engine.strategy import LuaStrategy

# Reads two indicators and almost never acts: the steady-state cost per bar.
SCRIPT = """
function detect_opportunity(market_data, context, indicators)
  local fast, slow = indicators.sma(20), indicators.sma(50)
  if fast and slow and fast > slow * 1.5 then return { signal = "never" } end
  return nil
end
function filter_commitment() return { action = "cancel_analysis" } end
function manage_position() return nil end
"""


def stats(samples: list[int]) -> str:
    """p50 / p99 / mean of nanosecond samples, in µs."""
    ordered = sorted(samples)
    p50 = ordered[len(ordered) // 2] / 1000
    p99 = ordered[int(len(ordered) * 0.99)] / 1000
    mean = statistics.fmean(samples) / 1000
    return f"p50 {p50:6.2f} µs   p99 {p99:6.2f} µs   mean {mean:6.2f} µs"


def bare_call(n: int) -> list[int]:
    """A Python->Lua call of a function with 11 number arguments, no hook."""
    f = lupa.LuaRuntime().eval("function(a, b, c, d, e, f, g, h, i, j, k) return nil end")
    clock = time.perf_counter_ns
    out = []
    for i in range(n):
        t = clock()
        f(1, None, i, 1.0, 2.0, 0.5, 1.5, 10.0, None, None, None)
        out.append(clock() - t)
    return out


def strategy_calls(bars: int) -> tuple[list[int], list[int]]:
    """(step ns, on_bar ns) per bar over the simulated feed."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.lua"
        path.write_text(SCRIPT)
        strategy = LuaStrategy(path)
    window = MarketDataWindow(1000)
    machine = StateMachine()
    api = IndicatorApi("BTCUSDT", window)
    clock = time.perf_counter_ns
    steps, updates = [], []
    for bar in SimulatedFeed(["BTCUSDT"], seed=1, bars=bars).iter_bars():
        window.push(bar)
        t0 = clock()
        api.on_bar(bar)
        t1 = clock()
        strategy.step(bar, machine, api)
        t2 = clock()
        updates.append(t1 - t0)
        steps.append(t2 - t1)
    return steps[100:], updates[100:]  # skip the first bars (stream creation)


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=50_000)
    args = parser.parse_args()
    clock_cost = [-time.perf_counter_ns() + time.perf_counter_ns() for _ in range(10_000)]
    steps, updates = strategy_calls(args.bars)
    print(f"bars: {args.bars}   (timer overhead p50 {sorted(clock_cost)[5000]} ns, included)")
    print(f"bare lupa call (11 args, no hook): {stats(bare_call(args.bars))}")
    print(f"strategy call, 2 indicators read:  {stats(steps)}")
    print(f"indicator update (2 SMA streams):  {stats(updates)}")


if __name__ == "__main__":
    main()
