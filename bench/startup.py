"""Start-up of ``python -m engine run`` (issue 15: <= 0.1 s; import only what the command needs).

Prints, best of ``--repeat`` fresh processes (CPU time of the child, user + sys, and
wall time):

* ``python -c pass``: the interpreter alone (the floor);
* ``run 10 bars``: ``python -m engine run --strategy strategies/sma_crossover.lua
  --feed csv:<10-bar CSV> --json --journal <tmp>`` — start-up plus a run too short
  to count;
* ``imports``: the modules that run imports, the sum of ``-X importtime``'s
  top-level cumulative times (µs → s; importtime's own overhead included), and how
  many modules.

Bytecode: this machine sets ``PYTHONDONTWRITEBYTECODE=1``, so the script first
compiles ``engine`` and ``bridge`` as an install would (checked-hash pycs, as
bench/backtest.py does). ``measure()`` returns the figures for a summary.

    .venv/bin/python bench/startup.py [--repeat 9]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STRATEGY = ROOT / "strategies" / "sma_crossover.lua"
ROWS = "timestamp,open,high,low,close,volume\n" + "".join(
    f"{1_704_067_200_000 + 60_000 * i},100,101,99,100.5,1\n" for i in range(10))


def compile_bytecode() -> None:
    """Checked-hash pycs for engine/ and bridge/ (never stale; see the docstring)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", "--invalidation-mode",
                    "checked-hash", "engine", "bridge"], cwd=ROOT, check=True)


def time_process(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(CPU s of the child, wall s, stderr) of one run of ``cmd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, done.stderr


def import_seconds(stderr: str) -> tuple[float, int]:
    """The sum of ``-X importtime``'s top-level cumulative times (s) and the module count."""
    total, count = 0, 0
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line[len("import time:"):].split("|")
        count += 1
        if not name.startswith("  "):  # one space after the bar: a top-level import
            total += int(cumulative)
    return total / 1e6, count


def measure(repeat: int = 9) -> dict[str, float]:
    """Best-of-``repeat`` figures (s): the interpreter alone, a 10-bar CSV run
    (CPU and wall) and its imports (see the module docstring)."""
    compile_bytecode()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "ten.csv"
        csv_path.write_text(ROWS)
        run = [sys.executable, "-m", "engine", "run", "--strategy", str(STRATEGY),
               "--feed", f"csv:{csv_path}", "--json", "--journal", str(Path(tmp) / "j.sqlite")]
        floor, process, imports = [], [], []
        modules = 0
        for _ in range(repeat):  # interleaved: a busy moment costs every figure alike
            floor.append(time_process([sys.executable, "-c", "pass"], env))
            process.append(time_process(run, env))
            seconds, modules = import_seconds(
                time_process([sys.executable, "-X", "importtime", *run[1:]], env)[2])
            imports.append(seconds)
    return {
        "python_pass_cpu_s": min(c for c, _, _ in floor),
        "python_pass_wall_s": min(w for _, w, _ in floor),
        "run10_cpu_s": min(c for c, _, _ in process),
        "run10_wall_s": min(w for _, w, _ in process),
        "run_imports_s": min(imports),
        "run_modules": float(modules),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--repeat", type=int, default=9)
    args = ap.parse_args()
    got = measure(args.repeat)
    print(f"start-up, best of {args.repeat} processes          CPU s    wall s")
    print(f"  python -c pass                      {got['python_pass_cpu_s']:7.3f}  "
          f"{got['python_pass_wall_s']:7.3f}")
    print(f"  run, 10-bar CSV (goal <= 0.1)       {got['run10_cpu_s']:7.3f}  "
          f"{got['run10_wall_s']:7.3f}")
    print(f"  its imports (-X importtime, sum)    {got['run_imports_s']:7.3f}  "
          f"({int(got['run_modules'])} modules)")


if __name__ == "__main__":
    main()
