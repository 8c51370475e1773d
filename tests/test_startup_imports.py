"""Start-up: each command imports only what it needs (issue 15; speed itself lives in bench/).

A fresh interpreter runs the command line and reports the modules it loaded. The
run's help needs the run's config and its defaults' owners, nothing that only a
run, a sweep, a live feed, a report or the OCaml bridge uses; a plain CSV backtest
with ``--json`` loads no live feed (websockets, asyncio), no sweep, no HTML report,
no rich table, no bridge, no optional science stack. Its SQLite journal is the
default (``runs.sqlite``), so sqlite3 is needed by every run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SMA = ROOT / "strategies" / "sma_crossover.lua"
T0 = 1_704_067_200_000

#: Never needed by the commands below.
OPTIONAL = {"scipy", "ray", "rich", "websockets", "bridge", "pandas", "talib", "asyncio",
            "engine.sweep", "engine.market.feeds.binance", "engine.report.html", "decimal"}

PROBE = """
import sys
from engine.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:  # --help
    code = exc.code
sys.stderr.write("\\nMODULES " + " ".join(sorted(sys.modules)) + f" EXIT {code}\\n")
"""


def loaded(tmp_path: Path, *argv: str) -> tuple[set[str], str]:
    """The modules a fresh ``python -m engine ARGV`` has loaded at its end, and its stdout."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    report = done.stderr.rsplit("\nMODULES ", 1)[-1].split()
    assert report[-2:] == ["EXIT", "0"], done.stderr[-2000:]
    return set(report[:-2]), done.stdout


def test_the_run_help_loads_no_run_sweep_journal_or_bridge(tmp_path: Path) -> None:
    modules, out = loaded(tmp_path, "run", "--help")
    assert "--strategy" in out
    assert "engine.run.config" in modules  # (the defaults of the help text)
    unwanted = OPTIONAL | {"sqlite3", "json", "engine.run.session", "engine.run.journal",
                           "engine.market.feeds.arrays"}
    assert modules & unwanted == set()


def test_a_plain_csv_run_loads_only_what_it_uses(tmp_path: Path) -> None:
    data = tmp_path / "bars.csv"
    data.write_text("timestamp,open,high,low,close,volume\n" + "".join(
        f"{T0 + 60_000 * i},100,101,99,100.5,1\n" for i in range(10)))
    modules, out = loaded(tmp_path, "run", "--strategy", str(SMA), "--feed", f"csv:{data}",
                          "--json", "--journal", str(tmp_path / "j.sqlite"))
    assert json.loads(out.splitlines()[-1])["bars"] == 10
    assert {"engine.run.session", "engine.market.feeds.csv_feed", "sqlite3"} <= modules
    unwanted = OPTIONAL | {"engine.market.feeds.arrays", "engine.run.report_command",
                           "numpy.ma",  # (np.median's import: ≈ 10 ms)
                           "engine.report.model", "engine.run.reporting",  # (≈ 4 ms)
                           "difflib"}  # (only for "did you mean": ≈ 2 ms)
    assert modules & unwanted == set()
