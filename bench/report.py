"""Cost of the report and of the equity journal, on real runs from real journals.

1. Report: a ``--bars`` (10^5 and 10^6) SMA-crossover backtest on the simulated feed
   into a fresh journal, then (median of ``--repeats``) the time to build the report
   model from the journal (``load_report``: migrate check, series, trades, run_stats),
   to render the HTML and to write it; the HTML size; with ``--browser``, how long
   headless chromium takes to open it (the page's own ready time and the process's).
   Goals (issue 13): < 10 MB, opens in < 2 s.
2. Equity journal on the hot path (``--hot-bars``, 10^5): the same backtest with and
   without the equity journal (``backtest(record_equity=False)``), alternated
   ``--hot-repeats`` times; CPU seconds (``time.process_time``) per run, and the
   difference per bar (min and median). The machine is shared, so the whole-run
   difference is noisy; beside it, the CPU spent inside the equity journal's own
   functions during the run (``EquityLog.write_if_due``) and at its end
   (``_finish_equity``: last points, the statistics of every bar), and the per-bar
   cost of keeping the bar (a list append, timed alone). Goal: <= 0.3 µs per bar.

    .venv/bin/python bench/report.py [--bars 100000,1000000] [--browser] [--hot-bars N]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import engine.run.equity as equity_module  # noqa: E402
import engine.run.session as session_module  # noqa: E402
from engine.report.html import render_html, write_html  # noqa: E402
from engine.run import RunConfig, backtest  # noqa: E402
from engine.run.journal import Journal  # noqa: E402
from engine.run.reporting import load_report  # noqa: E402

STRATEGY = ROOT / "strategies" / "sma_crossover.lua"


def median_s(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def open_in_chromium(page: Path, tmp: Path) -> tuple[int, float]:
    """(the page's ready time in ms, the chromium process's wall seconds)."""
    started = time.perf_counter()
    done = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp / 'profile'}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=300, check=True)
    wall = time.perf_counter() - started
    ready = re.search(r'data-ready-ms="(\d+)"', done.stdout)
    return (int(ready.group(1)) if ready else -1), wall


def config(journal: Path, bars: int) -> RunConfig:
    return RunConfig(strategy=STRATEGY, bars=bars, journal=journal)


def report_costs(args: argparse.Namespace, tmp: Path) -> None:
    print(f"{'bars':>9} {'trades':>7} {'run s':>7} {'load s':>7} {'render s':>9} "
          f"{'write s':>8} {'MB':>6}" + (f" {'page ms':>8} {'chromium s':>11}"
                                         if args.browser else ""))
    for n in (int(x) for x in args.bars.split(",")):
        journal = tmp / f"runs_{n}.sqlite"
        started = time.perf_counter()
        result = backtest(config(journal, n))
        run_s = time.perf_counter() - started

        def load(path: Path = journal, run_id: int = result.run_id) -> Any:
            with Journal(path) as j:
                return load_report(j, run_id)

        model = load()
        load_s = median_s(load, args.repeats)
        render_s = median_s(lambda m=model: render_html(m), args.repeats)
        page = tmp / f"report_{n}.html"
        write_s = median_s(lambda m=model, p=page: write_html(m, p), args.repeats)
        line = (f"{n:>9,} {len(result.trades):>7,} {run_s:>7.2f} {load_s:>7.3f} "
                f"{render_s:>9.3f} {write_s:>8.3f} {page.stat().st_size / 1e6:>6.2f}")
        if args.browser:
            ready_ms, wall = open_in_chromium(page, tmp)
            line += f" {ready_ms:>8} {wall:>11.2f}"
        print(line, flush=True)


class Meter:
    """CPU seconds spent inside wrapped functions."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = {}

    def wrap(self, owner: Any, name: str) -> None:
        inner = getattr(owner, name)

        def timed(*a: Any, **k: Any) -> Any:
            started = time.process_time()
            try:
                return inner(*a, **k)
            finally:
                self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - started

        setattr(owner, name, timed)


def keep_bar_ns() -> float:
    """The runner's per-bar addition: the None check and the list append of the bar."""
    setup = ("from engine.market.bar import Bar\n"
             "b = Bar('BTCUSDT', 0, 1.0, 1.0, 1.0, 1.0, 1.0)\nkept = []\n"
             "class R: pass\nr = R(); r.keep = kept.append")
    stmt = "keep = r.keep\nif keep is not None: keep(b)\nif len(kept) > 8192: kept.clear()"
    base = "keep = r.keep\nif len(kept) > 8192: kept.clear()"
    n = 1_000_000
    with_ = min(timeit.repeat(stmt, setup, number=n, repeat=5))
    without = min(timeit.repeat(base, setup, number=n, repeat=5))
    return (with_ - without) / n * 1e9


def hot_path(args: argparse.Namespace, tmp: Path) -> None:
    n, runs = args.hot_bars, {True: [], False: []}  # type: dict[bool, list[float]]
    meter = Meter()
    meter.wrap(equity_module.EquityLog, "write_if_due")
    meter.wrap(session_module, "_finish_equity")
    inside = {"write_if_due": [], "_finish_equity": []}  # type: dict[str, list[float]]
    for i in range(args.hot_repeats):
        for record in (False, True):
            meter.cpu.clear()
            started = time.process_time()
            backtest(config(tmp / f"hot_{i}_{record}.sqlite", n), record_equity=record)
            runs[record].append(time.process_time() - started)
            if record:
                for name in inside:
                    inside[name].append(meter.cpu.get(name, 0.0))
    us = 1e6 / n
    print(f"\nequity journal on a {n:,}-bar backtest (CPU s per run, {args.hot_repeats} "
          "alternated runs each)")
    for record in (False, True):
        v = runs[record]
        print(f"  {'with   ' if record else 'without'} min {min(v):.3f}  "
              f"median {statistics.median(v):.3f}")
    med = statistics.median
    print(f"  whole-run difference: min {(min(runs[True]) - min(runs[False])) * us:+.3f} "
          f"µs/bar, median {(med(runs[True]) - med(runs[False])) * us:+.3f} µs/bar")
    during = statistics.median(inside["write_if_due"]) * us
    end = statistics.median(inside["_finish_equity"]) * us
    keep = keep_bar_ns() / 1e3
    print(f"  inside the equity journal (medians): per bar kept {keep:.3f} µs, "
          f"between bars (advance, write) {during:.3f} µs/bar, at the end (last points, "
          f"statistics of every bar) {end:.3f} µs/bar; total {keep + during + end:.3f} µs/bar")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", default="100000,1000000")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--browser", action="store_true", help="also time chromium opening it")
    ap.add_argument("--hot-bars", type=int, default=100_000)
    ap.add_argument("--hot-repeats", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        report_costs(args, tmp)
        hot_path(args, tmp)


if __name__ == "__main__":
    main()
