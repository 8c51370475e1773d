"""--watch with real Lua: a good new version takes over between bars keeping the
position; a broken one leaves the old version running and logs an error."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from factories import make_bar

from engine.indicators.api import IndicatorApi
from engine.market.bar import Bar
from engine.market.feeds.stats import FeedStats
from engine.market.window import MarketDataWindow
from engine.run.journal import Journal
from engine.run.orchestrator import Orchestrator
from engine.run.reload import StrategyReloader
from engine.run.runner import SymbolRunner
from engine.state import State, StateMachine
from engine.strategy.lua_strategy import LuaStrategy

V1 = """
function detect_opportunity(m, c, i) return {} end
function filter_commitment(m, c, i) return {action = "enter_long", quantity = 0.1} end
function manage_position(m, c, i) return nil end
"""
V2 = """
function detect_opportunity(m, c, i) return nil end
function filter_commitment(m, c, i) return {action = "cancel_analysis"} end
function manage_position(m, c, i)
  return {action = "exit", reason = "v2 " .. c.position.side}
end
"""
BROKEN = "function detect_opportunity(m, c, i) return {} end\nfunction oops(\n"


class HookFeed:
    """Bars 0..n-1 of one symbol; ``hook(i)`` runs before bar i is yielded."""

    def __init__(self, n: int, hook: Callable[[int], None]) -> None:
        self.n, self.hook, self.stats = n, hook, FeedStats()

    @property
    def total(self) -> int | None:
        return self.n

    async def _gen(self) -> AsyncIterator[Bar]:
        for i in range(self.n):
            self.hook(i)
            await asyncio.sleep(0)
            yield make_bar(i, 100.0 + i)

    def __aiter__(self) -> AsyncIterator[Bar]:
        return self._gen()

    async def aclose(self) -> None:
        pass


def run(tmp_path: Path, versions: dict[int, str], n: int) -> tuple[SymbolRunner, Journal]:
    src = tmp_path / "s.lua"
    src.write_text(V1)
    journal = Journal(tmp_path / "j.sqlite")
    journal.start_run(command=["t"], strategy_path=str(src), strategy_sha256="", params={},
                      symbols=["BTCUSDT"], feed="t", seed=None, fee_bps=0.0, slippage_bps=0.0)

    def load(path: Path, symbol: str) -> LuaStrategy:
        return LuaStrategy(path)

    window = MarketDataWindow(100)
    runner = SymbolRunner("BTCUSDT", load(src, "BTCUSDT"), StateMachine(), window,
                          IndicatorApi("BTCUSDT", window, None), journal)
    reloader = StrategyReloader({src: [runner]}, load, journal, interval_s=0.0)

    def hook(i: int) -> None:
        if i in versions:
            src.write_text(versions[i])

    asyncio.run(Orchestrator({"BTCUSDT": runner}, HookFeed(n, hook), journal,
                             reloader=reloader).run())
    journal.flush()
    return runner, journal


def test_good_version_takes_over_between_bars_keeping_the_position(tmp_path: Path) -> None:
    runner, journal = run(tmp_path, {4: V2}, 6)
    with sqlite3.connect(journal.path) as db:
        trades = db.execute("SELECT entry_timestamp, exit_timestamp, exit_price FROM trades")
        (trade,) = trades.fetchall()
        notes = [n for (n,) in db.execute("SELECT note FROM transitions WHERE reason='exit'")]
        versions = db.execute("SELECT from_timestamp FROM strategy_versions ORDER BY rowid")
        starts = [t for (t,) in versions]
    # v1 entered at bar 1's close (101) and held; v2 exits at bar 4's close, the first
    # bar after the change; v2 then stays idle
    assert trade == (60_000, 240_000, 104.0)
    assert notes == ["v2 long"]
    assert starts == [0, 240_000]
    assert runner.machine.state is State.IDLE and runner.stats.reloads == 1


def test_broken_version_keeps_the_old_one_and_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="tandem.run"):
        runner, journal = run(tmp_path, {3: BROKEN}, 8)
    assert runner.machine.state is State.IN_POSITION  # v1 still holding
    assert runner.stats.reload_errors == 1 and runner.stats.reloads == 0
    assert any("previous version keeps running" in r.message and "s.lua" in r.message
               for r in caplog.records)
    with sqlite3.connect(journal.path) as db:
        (kind,) = db.execute("SELECT kind FROM strategy_errors").fetchone()
    assert kind == "reload"


# 0.001 units: its fees never exhaust the 10,000 of cash (the cash check would stop it)
CHURN_V1 = """
function detect_opportunity(m, c, i) return {} end
function filter_commitment(m, c, i) return {action = "enter_long", quantity = 0.001} end
function manage_position(m, c, i) return {action = "exit", reason = "v1"} end
"""


def test_watch_through_the_command_line(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    src = tmp_path / "s.lua"
    src.write_text(CHURN_V1)
    journal = tmp_path / "j.sqlite"
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine", "run", "--strategy", str(src), "--watch",
         "--bars", "5000000", "--journal", str(journal), "--json"],
        cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )

    def count(sql: str) -> int:
        try:
            with sqlite3.connect(journal, timeout=1.0) as db:
                return int(db.execute(sql).fetchone()[0])
        except sqlite3.OperationalError:
            return 0

    try:
        deadline = time.monotonic() + 60
        while count("SELECT COUNT(*) FROM trades") < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        src.write_text(CHURN_V1.replace('"v1"', '"v2"'))
        while (count("SELECT COUNT(*) FROM transitions WHERE note = 'v2'") < 5
               and time.monotonic() < deadline):
            time.sleep(0.02)
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "reloaded" in err
    with sqlite3.connect(journal) as db:
        notes = [n for (n,) in db.execute(
            "SELECT note FROM transitions WHERE reason = 'exit' ORDER BY id")]
        versions = db.execute("SELECT COUNT(*) FROM strategy_versions").fetchone()[0]
    switch = notes.index("v2")
    assert notes[:switch] == ["v1"] * switch and set(notes[switch:]) == {"v2"}
    assert switch >= 5 and versions == 2
