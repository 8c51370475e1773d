"""Issue 15's figures side by side, measured in one run (``make bench`` prints this first).

Each row comes from the ``measure()`` of the benchmark that owns it, so the
detailed scripts and this table cannot disagree on what is measured:

* in-process µs per bar, p50 and mean (bench/perbar.py: 100k-bar CSV run, the
  benchmark strategy and a five-indicator one; compiled core and pure Python);
* CSV parsing µs per bar (bench/csv_parse.py) and start-up (bench/startup.py);
* whole process against backtesting.py and backtrader (bench/backtest.py);
* shadow mode's wall and CPU ratio, dropped comparisons (bench/shadow.py);
* bridge round trips against a raw pipe at 200 and 10^6 points (bench/bridge.py).

Goals (the issue's): ≤ 2.0 / ≤ 3.0 µs per bar where a bare Lua call costs 0.3 µs
(shown here also in bare calls measured on this machine), parse ≤ 0.5 µs a bar,
start-up ≤ 0.1 s, ≥ 2.5× backtesting.py, shadow ≤ 1.2×, 200 points ≤ 3× the pipe.

    .venv/bin/python bench/summary.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(1, str(BENCH))

Row = tuple[str, str, str]


def perbar_rows(bars: int) -> list[Row]:
    """In-process rows: compiled and pure core, both strategies."""
    import perbar

    results = [perbar.measure(bars)]
    if results[0]["native"]:
        results.append(perbar.measure_pure(bars))
    rows = []
    for r in results:
        core = "compiled" if r["native"] else "pure Python"
        for name, goal in (("sma_crossover", 2.0), ("five_indicators", 3.0)):
            f = r[name]
            rows.append((f"in-process µs/bar, {name}, {core}",
                         f"p50 {f['p50_us']:.2f}, mean {f['mean_us']:.2f} "
                         f"({f['p50_us'] / f['floor_us']:.1f} bare calls of "
                         f"{f['floor_us']:.2f} µs)",
                         f"≤ {goal} µs (= {goal / 0.3:.1f} bare calls)"))
    rows.append(("bare Python→Lua call (the floor)",
                 f"p50 {results[0]['floor_us']:.2f} µs before all the loops, "
                 "around each above", "0.3 µs where the goals were set"))
    return rows


def parse_rows() -> list[Row]:
    """CSV parsing and start-up."""
    import csv_parse
    import startup

    c = csv_parse.measure()
    s = startup.measure()
    return [
        ("CSV parse µs/bar (bench/csv_parse.py)",
         f"{c['parse_us_per_bar']:.2f} (with Bars {c['feed_us_per_bar']:.2f})", "≤ 0.5"),
        ("start-up: 10-bar CSV run, whole process",
         f"{s['run10_wall_s']:.3f} s wall ({s['python_pass_wall_s']:.3f} s of it "
         "python -c pass)", "≤ 0.1 s"),
    ]


def backtest_rows(bars: int) -> list[Row]:
    """Whole-process ratios against the peers."""
    import backtest

    b = backtest.measure(bars)
    rows = [("whole process, 100k-bar backtest", f"{b['tandem_wall_s']:.3f} s wall", "")]
    for key, name, goal in (("backtesting_py", "backtesting.py", "≥ 2.5×"),
                            ("backtrader", "backtrader", "")):
        if f"vs_{key}_wall" in b:
            rows.append((f"  speed-up over {name}",
                         f"{b[f'vs_{key}_wall']:.2f}× wall, {b[f'vs_{key}_cpu']:.2f}× CPU", goal))
    return rows


def shadow_rows(repeats: int) -> list[Row]:
    """Shadow mode's cost."""
    import shadow

    s = shadow.measure(repeats=repeats)
    return [("shadow (--shadow-ocaml), 20k bars, 15 indicators",
             f"{s['wall_ratio']:.2f}× wall, {s['cpu_ratio']:.2f}× CPU, "
             f"{int(s['dropped'])} dropped", "≤ 1.2×, 0 dropped"),
            ("  the same, --shadow-in-run",
             f"{s['in_run_wall_ratio']:.2f}× wall, {s['in_run_cpu_ratio']:.2f}× CPU", "—")]


def bridge_rows(quick: bool) -> list[Row]:
    """Bridge round trips against the raw pipe."""
    import importlib.util

    # bench/bridge.py is named like the package it measures: load it by path
    spec = importlib.util.spec_from_file_location("bench_bridge", BENCH / "bridge.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    b = module.measure(quick=quick)
    rows = []
    for where in module.PLACEMENTS:
        rows += [(f"bridge: 200-point SMA vs raw pipe, {where}",
                  f"{b[f'sma_200_{where}_ratio']:.2f}× (p50 {b[f'sma_200_{where}_p50_us']:.0f} "
                  f"vs {b[f'sma_200_{where}_cat_p50_us']:.0f} µs)", "≤ 3×"),
                 (f"bridge: 10^6-point SMA vs raw pipe, {where}",
                  f"{b[f'sma_1m_{where}_ratio']:.2f}×", "")]
    return rows


def main() -> None:
    """Measure everything and print one table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer bars and repeats")
    args = ap.parse_args()
    bars = 30_000 if args.quick else 100_000
    rows: list[Row] = []
    for part in (lambda: perbar_rows(bars), parse_rows, lambda: backtest_rows(100_000),
                 lambda: shadow_rows(2 if args.quick else 5),
                 lambda: bridge_rows(args.quick)):
        rows += part()
    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    print(f"\n{'figure':<{width}}  {'measured':<{value_width}}  goal")
    for name, value, goal in rows:
        print(f"{name:<{width}}  {value:<{value_width}}  {goal}")


if __name__ == "__main__":
    main()
