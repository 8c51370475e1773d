"""Cost of shadow mode: the same run with and without ``--shadow-ocaml``.

A 20,000-bar simulated run of tests/data/all_indicators.lua (every indicator,
every output each bar) is timed as a whole process, alternating the two variants;
the median of the repeats is shown side by side with the run's own elapsed
time and shadow's counters. Goal (issue 15): ≤ 1.2× in wall time and in CPU
(user + sys of the process and its OCaml servers), with nothing dropped.
``measure`` returns the ratios for a summary (``make bench``).

    .venv/bin/python bench/shadow.py [--bars N] [--repeats R]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STRATEGY = ROOT / "tests" / "data" / "all_indicators.lua"


def run_once(bars: int, shadow: bool, journal: Path) -> tuple[float, float, dict[str, Any]]:
    """Wall and CPU seconds (user + sys, the OCaml server included) of one
    ``python -m engine run``, and its --json summary."""
    cmd = [sys.executable, "-m", "engine", "run", "--strategy", str(STRATEGY),
           "--bars", str(bars), "--json", "--journal", str(journal)]
    if shadow:
        cmd.append("--shadow-ocaml")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, json.loads(done.stdout.strip().splitlines()[-1])


Results = dict[bool, list[tuple[float, float, dict[str, Any]]]]


def _runs(bars: int, repeats: int) -> Results:
    """``repeats`` runs of each variant, alternating (without shadow first)."""
    results: Results = {False: [], True: []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeats):
            for shadow in (False, True):
                journal = Path(tmp) / f"bench_{i}_{shadow}.sqlite"
                results[shadow].append(run_once(bars, shadow, journal))
    return results


def _summarize(results: Results, bars: int) -> dict[str, float]:
    walls = {s: statistics.median(w for w, _, _ in r) for s, r in results.items()}
    cpus = {s: statistics.median(c for _, c, _ in r) for s, r in results.items()}
    shadows = [x["shadow"] for _, _, x in results[True]]
    return {
        "wall_ratio": walls[True] / walls[False],
        "cpu_ratio": cpus[True] / cpus[False],
        "dropped": float(max(s["dropped"] for s in shadows)),
        "mismatches": float(max(s["mismatches"] for s in shadows)),
        "errors": float(max(s["errors"] for s in shadows)),
        "wall_plain_s": walls[False],
        "wall_shadow_s": walls[True],
        "cpu_plain_s": cpus[False],
        "cpu_shadow_s": cpus[True],
        "worker_us_per_bar": statistics.median(1e3 * s["worker_cpu_ms"] / bars
                                               for s in shadows),
    }


def measure(bars: int = 20_000, repeats: int = 5) -> dict[str, float]:
    """Shadow's cost: the medians' ratios (``wall_ratio``, ``cpu_ratio``), the most
    ``dropped`` / ``mismatches`` / ``errors`` of a shadow run, the medians in
    seconds, and the worker thread's CPU (``worker_us_per_bar``)."""
    return _summarize(_runs(bars, repeats), bars)


def main() -> None:
    """Run the comparison and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    results = _runs(args.bars, args.repeats)
    m = _summarize(results, args.bars)
    elapsed = {s: statistics.median(x["elapsed_s"] for _, _, x in r) for s, r in results.items()}
    trades = {s: {x["trades"] for _, _, x in r} for s, r in results.items()}
    print(f"shadow mode cost: {args.bars:,} bars of {STRATEGY.name}, median of {args.repeats}")
    print(f"{'':28}{'without':>12}{'with shadow':>14}{'ratio':>8}")
    print(f"{'process wall time (s)':28}{m['wall_plain_s']:12.3f}{m['wall_shadow_s']:14.3f}"
          f"{m['wall_ratio']:8.2f}")
    print(f"{'process CPU, user+sys (s)':28}{m['cpu_plain_s']:12.3f}{m['cpu_shadow_s']:14.3f}"
          f"{m['cpu_ratio']:8.2f}")
    print(f"{'run elapsed_s (s)':28}{elapsed[False]:12.3f}{elapsed[True]:14.3f}"
          f"{elapsed[True] / elapsed[False]:8.2f}")
    print(f"trades: without {sorted(trades[False])}, with {sorted(trades[True])}")
    for _, _, summary in results[True]:
        s = summary["shadow"]
        lat = s["latency_ms"]
        print(f"  shadow: compared {s['compared']:,} mismatches {s['mismatches']} "
              f"errors {s['errors']} dropped {s['dropped']} round trips {s['round_trips']} "
              f"latency p50 {lat['p50']:.2f} ms p99 {lat['p99']:.2f} ms "
              f"trade bars {s['trade_bars']:,} "
              f"worker CPU {1e3 * s['worker_cpu_ms'] / args.bars:.2f} µs/bar")


if __name__ == "__main__":
    main()
