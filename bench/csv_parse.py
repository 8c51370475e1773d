"""CSV parsing per bar (issue 15: <= 0.5 µs a bar) over the 100,000-bar benchmark CSV.

Prints, best of ``--repeat`` runs timed with the process's CPU time
(time.process_time, not inflated when other processes share the cores):

* ``parse``: the file's bytes read in CsvFeed's chunks and turned into validated
  numpy columns (engine.market.feeds.csv_fast.checked_columns: numbers, §2 rules,
  increasing timestamps) — the parse alone;
* ``bars``: those columns turned into ``Bar`` objects (trusted_bars), as the
  feed hands them to the runner — reported apart: the runner's per-bar path
  takes Bars;
* ``feed``: ``CsvFeed(...).iter_bars()`` consumed to its end — all the above
  plus header detection and the iterator, what a backtest pays before its first
  per-bar step.

``measure()`` returns the same figures for a summary (``make bench``).

    .venv/bin/python bench/csv_parse.py [--repeat 7] [--data PATH]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA = ROOT / "bench" / "data" / "sma_100k_seed42.csv"


def benchmark_csv() -> Path:
    """The 100,000-bar benchmark CSV (bench/backtest.py generates it if missing)."""
    if not DATA.exists():
        sys.path.insert(0, str(ROOT / "bench"))
        from backtest import make_csv

        return make_csv(100_000, 42)
    return DATA


def best_cpu(fn: Callable[[], object], repeat: int) -> float:
    """The least CPU time (s) of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return min(times)


def measure(path: Path | None = None, repeat: int = 7) -> dict[str, float]:
    """µs per bar of the parse, the Bar building and the whole feed (see the module
    docstring), and the bar count."""
    from engine.market.bar import trusted_bars
    from engine.market.feeds.csv_fast import CHUNK_BYTES, FloatArray, IntArray, checked_columns
    from engine.market.feeds.csv_feed import CsvFeed

    path = path or benchmark_csv()
    feed = CsvFeed(path, "BTCUSDT")
    lay = feed.layout
    n = sum(1 for _ in CsvFeed(path, "BTCUSDT").iter_bars())

    def parse() -> list[tuple[IntArray, FloatArray]]:
        out: list[tuple[IntArray, FloatArray]] = []
        last = -1
        with path.open("rb") as raw:
            raw.readline()  # the header
            carry = b""
            while block := raw.read(CHUNK_BYTES):
                data = carry + block
                cut = data.rfind(b"\n") + 1
                chunk, carry = data[:cut], data[cut:]
                cols = checked_columns(chunk, lay.width, lay.time, lay.prices, last)
                assert cols is not None, "the benchmark file takes the bulk path"
                last = int(cols[0][-1])
                out.append(cols)
        return out

    columns = parse()

    def bars() -> int:
        count = 0
        for ts, prices in columns:
            o, h, lo, c, v = prices
            count += len(list(trusted_bars("BTCUSDT", ts.tolist(), o.tolist(), h.tolist(),
                                           lo.tolist(), c.tolist(), v.tolist())))
        return count

    def whole_feed() -> None:
        for _ in CsvFeed(path, "BTCUSDT").iter_bars():
            pass

    per_bar = 1e6 / n
    return {
        "parse_us_per_bar": best_cpu(parse, repeat) * per_bar,
        "bars_us_per_bar": best_cpu(bars, repeat) * per_bar,
        "feed_us_per_bar": best_cpu(whole_feed, repeat) * per_bar,
        "bars": float(n),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--data", type=Path, default=None)
    args = ap.parse_args()
    got = measure(args.data, args.repeat)
    print(f"CSV parsing, {int(got['bars']):,} bars, best of {args.repeat} (CPU time)")
    print(f"  parse (bytes -> checked columns)  {got['parse_us_per_bar']:6.3f} µs/bar  "
          "(goal <= 0.5)")
    print(f"  Bar objects from the columns      {got['bars_us_per_bar']:6.3f} µs/bar")
    print(f"  CsvFeed.iter_bars() to its end    {got['feed_us_per_bar']:6.3f} µs/bar")


if __name__ == "__main__":
    main()
