"""Cost of shadow mode: the same run without ``--shadow-ocaml``, with it (the check in a
forked shadow process, the default) and with ``--shadow-in-run`` (on a thread of the run).

A 20,000-bar simulated run of tests/data/all_indicators.lua (every indicator,
every output each bar) is timed as a whole process, the three variants in turn;
the median of the repeats is shown side by side with the run's own elapsed
time and shadow's counters. Goal (issue 15): ≤ 1.2× in wall time and in CPU
(user + sys of the process, its shadow process and its OCaml servers), with
nothing dropped. ``measure`` returns the ratios for a summary (``make bench``).

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


#: The variants timed: the extra arguments of each.
VARIANTS: dict[str, tuple[str, ...]] = {
    "plain": (),
    "process": ("--shadow-ocaml",),
    "in-run": ("--shadow-ocaml", "--shadow-in-run"),
}


def run_once(bars: int, variant: str, journal: Path) -> tuple[float, float, dict[str, Any]]:
    """Wall and CPU seconds (user + sys, every process it waited for included) of
    one ``python -m engine run``, and its --json summary."""
    cmd = [sys.executable, "-m", "engine", "run", "--strategy", str(STRATEGY),
           "--bars", str(bars), "--json", "--journal", str(journal), *VARIANTS[variant]]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, json.loads(done.stdout.strip().splitlines()[-1])


Results = dict[str, list[tuple[float, float, dict[str, Any]]]]


def _runs(bars: int, repeats: int) -> Results:
    """``repeats`` runs of each variant, in turn."""
    results: Results = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeats):
            for variant in VARIANTS:
                journal = Path(tmp) / f"bench_{i}_{variant}.sqlite"
                results[variant].append(run_once(bars, variant, journal))
    return results


def _summarize(results: Results, bars: int) -> dict[str, float]:
    walls = {v: statistics.median(w for w, _, _ in r) for v, r in results.items()}
    cpus = {v: statistics.median(c for _, c, _ in r) for v, r in results.items()}
    shadows = [x["shadow"] for v in ("process", "in-run") for _, _, x in results[v]]
    return {
        "wall_ratio": walls["process"] / walls["plain"],
        "cpu_ratio": cpus["process"] / cpus["plain"],
        "in_run_wall_ratio": walls["in-run"] / walls["plain"],
        "in_run_cpu_ratio": cpus["in-run"] / cpus["plain"],
        "dropped": float(max(s["dropped"] for s in shadows)),
        "mismatches": float(max(s["mismatches"] for s in shadows)),
        "errors": float(max(s["errors"] for s in shadows)),
        **{f"wall_{v}_s": walls[v] for v in VARIANTS},
        **{f"cpu_{v}_s": cpus[v] for v in VARIANTS},
        "worker_us_per_bar": statistics.median(1e3 * s["worker_cpu_ms"] / bars
                                               for s in shadows),
    }


def measure(bars: int = 20_000, repeats: int = 5) -> dict[str, float]:
    """Shadow's cost: the medians' ratios of the default (``wall_ratio``,
    ``cpu_ratio``) and of ``--shadow-in-run`` (``in_run_…``), the most ``dropped`` /
    ``mismatches`` / ``errors`` of a shadow run, the medians in seconds, and the
    worker thread's CPU (``worker_us_per_bar``)."""
    return _summarize(_runs(bars, repeats), bars)


def main() -> None:
    """Run the comparison and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    results = _runs(args.bars, args.repeats)
    m = _summarize(results, args.bars)
    elapsed = {v: statistics.median(x["elapsed_s"] for _, _, x in r) for v, r in results.items()}
    trades = {v: sorted({x["trades"] for _, _, x in r}) for v, r in results.items()}
    print(f"shadow mode cost: {args.bars:,} bars of {STRATEGY.name}, median of {args.repeats}")
    print(f"{'':28}{'without':>9}{'process':>9}{'ratio':>7}{'in-run':>9}{'ratio':>7}")
    for label, key in (("process wall time (s)", "wall"), ("process CPU, user+sys (s)", "cpu")):
        plain, forked, in_run = (m[f"{key}_{v}_s"] for v in VARIANTS)
        print(f"{label:28}{plain:9.3f}{forked:9.3f}{forked / plain:7.2f}"
              f"{in_run:9.3f}{in_run / plain:7.2f}")
    plain, forked, in_run = (elapsed[v] for v in VARIANTS)
    print(f"{'run elapsed_s (s)':28}{plain:9.3f}{forked:9.3f}{forked / plain:7.2f}"
          f"{in_run:9.3f}{in_run / plain:7.2f}")
    print(f"trades: {trades}")
    for variant in ("process", "in-run"):
        for _, _, summary in results[variant]:
            s = summary["shadow"]
            lat = s["latency_ms"]
            print(f"  {variant:7} compared {s['compared']:,} mismatches {s['mismatches']} "
                  f"errors {s['errors']} dropped {s['dropped']} round trips "
                  f"{s['round_trips']} latency p50 {lat['p50']:.2f} ms p99 {lat['p99']:.2f} ms "
                  f"trade bars {s['trade_bars']:,} "
                  f"worker CPU {1e3 * s['worker_cpu_ms'] / args.bars:.2f} µs/bar")


if __name__ == "__main__":
    main()
