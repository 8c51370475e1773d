"""A run killed with ``kill -9`` keeps a consistent journal (docs/design.md §8).

A subprocess runs a long simulated backtest; once some trades are in the
journal it is killed with SIGKILL. The journal must then hold exactly the first
trades of a complete run of the same seed, and every trade of the complete run
that closed before the killed run's last journaled transition (a bar's
transitions and trades share a commit: a replayed feed commits once a second, a
live one at each trade as well; tests/test_journal.py checks both policies).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.market.feeds.simulated import START_MS

ROOT = Path(__file__).resolve().parent.parent

CHURN = """
function detect_opportunity(m, ctx, ind)
  if m.timestamp % 180000 == 0 then return {} end
  return nil
end
function filter_commitment(m, ctx, ind)
  held = 0
  return { action = "enter_long", quantity = 0.1,  -- fits the 10,000 cash
           stop_loss = m.close * 0.999, take_profit = m.close * 1.001 }
end
function manage_position(m, ctx, ind)
  held = held + 1
  if held >= 4 then return { action = "exit" } end
  return nil
end
"""

COLUMNS = ("side, quantity, entry_timestamp, entry_price, exit_timestamp, exit_price,"
           " exit_reason, fees, pnl")


def _cmd(strategy: Path, journal: Path, bars: int) -> list[str]:
    return [sys.executable, "-m", "engine", "run", "--strategy", str(strategy), "--seed", "9",
            "--bars", str(bars), "--journal", str(journal), "--json"]


def _trade_count(journal: Path) -> int:
    try:
        with sqlite3.connect(journal, timeout=1.0) as db:
            return int(db.execute("SELECT COUNT(*) FROM trades").fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # not created yet


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_kill_9_leaves_the_first_trades_of_the_complete_run(tmp_path: Path) -> None:
    strategy = tmp_path / "churn.lua"
    strategy.write_text(CHURN)
    killed = tmp_path / "killed.sqlite"
    proc = subprocess.Popen(_cmd(strategy, killed, 5_000_000), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while _trade_count(killed) < 200 and time.monotonic() < deadline:
            assert proc.poll() is None, "the run ended before it could be killed"
            time.sleep(0.02)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    with sqlite3.connect(killed) as db:
        got = db.execute(f"SELECT {COLUMNS} FROM trades ORDER BY id").fetchall()
        (status,) = db.execute("SELECT status FROM runs").fetchone()
        (progress,) = db.execute("SELECT MAX(timestamp) FROM transitions").fetchone()
    assert status == "running" and len(got) >= 200
    # a complete run of the same seed, a little past the killed run's last trade
    last_exit = max(row[4] for row in got)
    bars = (max(last_exit, progress) - START_MS) // 60_000 + 10
    complete = tmp_path / "complete.sqlite"
    subprocess.run(_cmd(strategy, complete, bars), cwd=ROOT, check=True, timeout=120,
                   stdout=subprocess.DEVNULL)
    with sqlite3.connect(complete) as db:
        want = db.execute(f"SELECT {COLUMNS} FROM trades ORDER BY id").fetchall()
    assert got == want[: len(got)]
    closed_before = [row for row in want if row[4] <= progress]
    assert len(got) >= len(closed_before)
