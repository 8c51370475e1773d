"""Cost of shadow mode: the same run with and without ``--shadow-ocaml``.

A 20,000-bar simulated run of tests/data/all_indicators.lua (every indicator,
every output each bar) is timed as a whole process, alternating the two variants;
the median of the repeats is shown side by side with the run's own elapsed
time and shadow's counters. Goal (issue 8): ≤ 1.3× with nothing dropped.

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


def main() -> None:
    """Run the comparison and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    results: dict[bool, list[tuple[float, float, dict[str, Any]]]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            for shadow in (False, True):
                journal = Path(tmp) / f"bench_{i}_{shadow}.sqlite"
                results[shadow].append(run_once(args.bars, shadow, journal))
    walls = {s: statistics.median(w for w, _, _ in r) for s, r in results.items()}
    cpus = {s: statistics.median(c for _, c, _ in r) for s, r in results.items()}
    elapsed = {s: statistics.median(x["elapsed_s"] for _, _, x in r) for s, r in results.items()}
    trades = {s: {x["trades"] for _, _, x in r} for s, r in results.items()}
    print(f"shadow mode cost: {args.bars:,} bars of {STRATEGY.name}, median of {args.repeats}")
    print(f"{'':28}{'without':>12}{'with shadow':>14}{'ratio':>8}")
    print(f"{'process wall time (s)':28}{walls[False]:12.3f}{walls[True]:14.3f}"
          f"{walls[True] / walls[False]:8.2f}")
    print(f"{'process CPU, user+sys (s)':28}{cpus[False]:12.3f}{cpus[True]:14.3f}"
          f"{cpus[True] / cpus[False]:8.2f}")
    print(f"{'run elapsed_s (s)':28}{elapsed[False]:12.3f}{elapsed[True]:14.3f}"
          f"{elapsed[True] / elapsed[False]:8.2f}")
    print(f"trades: without {sorted(trades[False])}, with {sorted(trades[True])}")
    for _, _, summary in results[True]:
        s = summary["shadow"]
        lat = s["latency_ms"]
        print(f"  shadow: compared {s['compared']:,} mismatches {s['mismatches']} "
              f"errors {s['errors']} dropped {s['dropped']} round trips {s['round_trips']} "
              f"latency p50 {lat['p50']:.2f} ms p99 {lat['p99']:.2f} ms "
              f"worker CPU {1e3 * s['worker_cpu_ms'] / args.bars:.2f} µs/bar")


if __name__ == "__main__":
    main()
