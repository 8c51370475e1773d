"""Cost of the report: statistics and HTML of a synthetic 10^5- and 10^6-bar run.

One symbol of seeded minute bars with a round trip every ``--period`` bars
(tests/report_data.py). Times (median of ``--repeats``): the statistics, rendering
the HTML, writing it; its size; and, with ``--browser``, how long headless chromium
takes to open it (the page's own ``performance.now()`` when its script has drawn and
self-checked everything, and the whole chromium process). Goals (issue 13): < 10 MB,
opens in < 2 s.

    .venv/bin/python bench/report.py [--bars 100000,1000000] [--period 100] [--browser]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from report_data import synthetic_symbol  # noqa: E402

from engine.report.html import render_html, write_html  # noqa: E402
from engine.report.model import ReportModel, RunStatus  # noqa: E402
from engine.report.stats import compute_statistics  # noqa: E402


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", default="100000,1000000")
    ap.add_argument("--period", type=int, default=100, help="bars between two entries")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--browser", action="store_true", help="also time chromium opening it")
    args = ap.parse_args()
    print(f"{'bars':>9} {'trades':>7} {'stats s':>8} {'render s':>9} {'write s':>8} "
          f"{'MB':>6}" + (f" {'page ms':>8} {'chromium s':>11}" if args.browser else ""))
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for n in (int(x) for x in args.bars.split(",")):
            sym = synthetic_symbol("BTCUSDT", n, args.period, 1)
            model = ReportModel(1, RunStatus.FINISHED, [sym])
            stats_s = median_s(lambda s=sym: compute_statistics(s.equity, s.trades,
                                                                s.bars.close), args.repeats)
            render_s = median_s(lambda m=model: render_html(m), args.repeats)
            page = tmp / f"report_{n}.html"
            write_s = median_s(lambda m=model, p=page: write_html(m, p), args.repeats)
            line = (f"{n:>9,} {len(sym.trades):>7,} {stats_s:>8.3f} {render_s:>9.3f} "
                    f"{write_s:>8.3f} {page.stat().st_size / 1e6:>6.2f}")
            if args.browser:
                ready_ms, wall = open_in_chromium(page, tmp)
                line += f" {ready_ms:>8} {wall:>11.2f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
