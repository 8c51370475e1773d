"""What a hostile strategy (or input) costs the host: time, stderr, journal, memory.

    PYTHONPATH=$PWD .venv/bin/python bench/attacks.py [--bars 300] [--only NAME,...]

Each attack is a Lua strategy (or a feed file) run through ``python -m engine
run`` in a fresh process (``--one NAME`` is that child), so the peak RSS is
the attack's own. Prints one row per attack: wall time, bytes written to stderr,
bytes of the journal (file + WAL), the peak RSS, the exit code and the last
stderr line. Issue 17 measured, before its bounds: the log flood > 60 s and
61 MB of stderr over 300 bars, a 10 MB context string ≈ 27 ms per bar.

Measured on the shared 2-core machine, 300 bars (before -> after issue 17):
log_flood 8.1 s / 121 MB stderr -> 0.3 s / 1.7 MB; log_many_args 107 s -> 2.3 s;
context_10mb 5.8 s / 117 MB RSS -> 0.2 s / 56 MB; context_growth > 120 s -> 0.3 s;
reason_10mb 23 s / 1.5 GB journal -> 0.35 s / 18 KB; action_name_1mb and
field_key_1mb 23 s / 134-149 MB stderr and journal -> 0.3-0.4 s / 22-28 KB stderr;
bad_key_type_10mb 18 s / 1.5 GB stderr and journal -> 0.35 s / 28 KB / 54 KB;
deep_recursion > 120 s -> 0.3 s; open_flood 27 s -> 0.3 s; csv_long_line 439 MB
RSS -> 42 MB; csv_dev_zero > 120 s (never ends) -> 0.2 s, a one-line error.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: name -> (strategy source, what it tries). The functions not given do nothing.
ATTACKS: dict[str, tuple[str, str]] = {
    "log_flood": ("""
local big = string.rep("x", 100000)
function detect_opportunity(md, ctx, ind)
  for i = 1, 1000 do ind.log(big) end
end""", "log 100 KB x 1000 per call"),
    "log_small_flood": ("""
function detect_opportunity(md, ctx, ind)
  for i = 1, 1e9 do ind.log("x") end
end""", "log a short line until the budget ends"),
    "log_many_args": ("""
local t = {} for i = 1, 20000 do t[i] = i end
function detect_opportunity(md, ctx, ind)
  ind.log(table.unpack(t))
end""", "one log call with 20,000 arguments"),
    "context_10mb": ("""
local big = string.rep("x", 10000000)
function detect_opportunity() return { s = big } end
function filter_commitment() return { action = "cancel_analysis" } end""",
                     "a 10 MB context string every other bar"),
    "context_growth": ("""
local n = 0
function detect_opportunity()
  local t = {}
  for i = 1, 200 do n = n + 1; t["k" .. n] = n end
  return t
end
function filter_commitment() return { action = "cancel_analysis" } end""",
                       "200 new context keys every other bar (cancel keeps them)"),
    "reason_10mb": ("""
local big = string.rep("r", 10000000)
function detect_opportunity() return { a = 1 } end
function filter_commitment() return { action = "cancel_analysis", reason = big } end""",
                    "a 10 MB action reason (journaled) every other bar"),
    "action_name_1mb": ("""
local big = string.rep("enter_lon", 100000)
local n = 0
function detect_opportunity() return { a = 1 } end
function filter_commitment()
  n = n + 1
  if n % 2 == 0 then return { action = big, quantity = 1 } end
end""", "a 900 KB action name (difflib, repr) on every other call"),
    "field_key_1mb": ("""
local big = string.rep("stop_los", 125000)
local n = 0
function detect_opportunity() return { a = 1 } end
function filter_commitment()
  n = n + 1
  if n % 2 == 0 then return { action = "cancel_analysis", [big] = 1 } end
end""", "a 1 MB unknown field name on every other call"),
    "bad_key_type_10mb": ("""
local big = string.rep("k", 10000000)
local n = 0
function detect_opportunity()
  n = n + 1
  if n % 2 == 0 then return { [big] = {} } end
end""", "a 10 MB key in a type error, every other call"),
    "error_10mb": ("""
local big = string.rep("e", 10000000)
local n = 0
function detect_opportunity()
  n = n + 1
  if n % 2 == 0 then error(big) end
end""", "error(10 MB string) every other call"),
    "error_every_other": ("""
local n = 0
function detect_opportunity()
  n = n + 1
  if n % 2 == 0 then error(string.rep("e", 1500)) end
end""", "a 1.5 KB error every other call (never 10 in a row)"),
    "deep_recursion": ("""
local n = 0
local function f(k) return 1 + f(k + 1) end
function detect_opportunity()
  n = n + 1
  if n % 2 == 0 then f(1) end
end""", "a stack overflow every other call"),
    "open_flood": ("""
function detect_opportunity(md, ctx, ind)
  for i = 1, 1e9 do pcall(ind.sma, -i) end
end""", "failing indicator opens under pcall until the budget ends"),
}

CSV_ATTACKS = {
    "csv_long_line": "a 200 MB single line",
    "csv_dev_zero": "/dev/zero",
}


def child(name: str, bars: int, workdir: Path) -> None:
    """Run one attack in this process; print one JSON line of measurements."""
    from engine.cli import main

    journal = workdir / "j.sqlite"
    feed = "sim"
    script = workdir / "s.lua"
    if name in ATTACKS:
        script.write_text(ATTACKS[name][0] + """
if detect_opportunity == nil then function detect_opportunity() end end
if filter_commitment == nil then function filter_commitment() end end
if manage_position == nil then function manage_position() end end
""")
    else:
        script.write_text("function detect_opportunity() end\n"
                          "function filter_commitment() end\nfunction manage_position() end\n")
        if name == "csv_long_line":
            path = workdir / "long.csv"
            with path.open("wb") as f:
                f.write(b"timestamp,open,high,low,close,volume\n")
                chunk = b"1" * (1 << 20)
                for _ in range(200):
                    f.write(chunk)
                f.write(b"\n")
            feed = f"csv:{path}"
        else:
            feed = "csv:/dev/zero"
    err = _CountingStream()
    t0 = time.perf_counter()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["run", "--strategy", str(script), "--feed", feed, "--bars", str(bars),
                     "--journal", str(journal), "--json"])
    elapsed = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in workdir.glob("j.sqlite*"))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"s": elapsed, "stderr": err.bytes, "journal": size, "rss_mb": rss,
                      "code": code, "last": err.last[-90:]}))


class _CountingStream(io.TextIOBase):
    """A stderr that keeps only the byte count and the last line."""

    def __init__(self) -> None:
        self.bytes = 0
        self.last = ""

    def write(self, s: str) -> int:
        self.bytes += len(s.encode("utf-8", "replace"))
        lines = [ln for ln in s.splitlines() if ln.strip()]
        if lines:
            self.last = lines[-1]
        return len(s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=300)
    parser.add_argument("--only", default=None)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        with tempfile.TemporaryDirectory() as tmp:
            child(args.one, args.bars, Path(tmp))
        return
    names = [*ATTACKS, *CSV_ATTACKS]
    if args.only:
        names = [n for n in names if n in args.only.split(",")]
    print(f"{'attack':20} {'time s':>8} {'ms/bar':>8} {'stderr':>11} {'journal':>11} "
          f"{'RSS MB':>7} {'exit':>4}  last stderr line")
    for name in names:
        try:
            done = subprocess.run(
                [sys.executable, __file__, "--one", name, "--bars", str(args.bars)],
                capture_output=True, text=True, timeout=args.timeout, env=os.environ.copy(),
                check=False,
            )
            row = json.loads(done.stdout.strip().splitlines()[-1])
        except subprocess.TimeoutExpired:
            print(f"{name:20} {'>' + str(int(args.timeout)):>8}  (killed at the timeout)")
            continue
        except (json.JSONDecodeError, IndexError):
            print(f"{name:20} crashed: {done.stderr.strip()[-200:]}")
            continue
        print(f"{name:20} {row['s']:8.2f} {1000 * row['s'] / args.bars:8.2f} "
              f"{row['stderr']:11,} {row['journal']:11,} {row['rss_mb']:7.0f} "
              f"{row['code']:>4}  {row['last']}")


if __name__ == "__main__":
    main()
