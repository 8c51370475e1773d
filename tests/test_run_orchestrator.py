"""Orchestrator: routing by symbol, --bars, feed records, signals; StrategyReloader.

Fakes stand in for the feed and the strategy so each test controls bar timing
exactly; the Lua path is covered by test_run_cli.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from factories import make_bar

from engine.errors import StrategyError
from engine.indicators.api import IndicatorApi
from engine.market.bar import Bar
from engine.market.feeds.stats import FeedStats
from engine.market.window import MarketDataWindow
from engine.run.journal import Journal
from engine.run.orchestrator import Orchestrator
from engine.run.reload import StrategyReloader
from engine.run.runner import SymbolRunner
from engine.state import State, StateMachine
from engine.state.position import ClosedTrade


@dataclass
class Recorder:
    """A strategy that records the bars it sees; ``tag`` names the version."""

    tag: str = "v1"
    path: str = "s.lua"
    sha256: str = "0" * 64
    params: dict[str, object] = field(default_factory=dict)
    seen: list[tuple[str, int]] = field(default_factory=list)

    def step(self, bar: Bar, machine: StateMachine, api: object) -> ClosedTrade | None:
        self.seen.append((self.tag, bar.timestamp))
        if machine.state is State.IDLE and self.tag == "enter":
            machine.begin_analysis({}, bar)
        return None


class NullApi(IndicatorApi):
    def __init__(self) -> None:
        super().__init__("BTCUSDT", MarketDataWindow(10))

    def on_bar(self, bar: Bar) -> None:
        pass


class ListFeed:
    """An async feed over a list; ``hook(i)`` runs before bar i is yielded."""

    def __init__(self, bars: list[Bar], hook: Callable[[int], None] | None = None) -> None:
        self.bars = bars
        self.hook = hook
        self.stats = FeedStats()
        self.closed = False

    @property
    def total(self) -> int | None:
        return len(self.bars)

    async def _gen(self) -> AsyncIterator[Bar]:
        for i, b in enumerate(self.bars):
            if self.hook is not None:
                self.hook(i)
            await asyncio.sleep(0)
            yield b

    def __aiter__(self) -> AsyncIterator[Bar]:
        return self._gen()

    async def aclose(self) -> None:
        self.closed = True


def interleaved(symbols: list[str], n: int) -> list[Bar]:
    return [make_bar(i, symbol=s) for i in range(n) for s in symbols]


def journal(tmp_path: Path) -> Journal:
    j = Journal(tmp_path / "j.sqlite", flush_interval_s=0.0)
    j.start_run(command=["t"], strategy_path="s.lua", strategy_sha256="0" * 64, params={},
                symbols=["A", "B"], feed="list", seed=None, fee_bps=0.0, slippage_bps=0.0)
    return j


def runner(symbol: str, j: Journal, strategy: Recorder | None = None) -> SymbolRunner:
    window = MarketDataWindow(100)
    return SymbolRunner(symbol, strategy or Recorder(), StateMachine(), window,
                        NullApi(), j)


def seen(r: SymbolRunner) -> list[tuple[str, int]]:
    s = r.strategy
    assert isinstance(s, Recorder)
    return s.seen


def test_bars_are_routed_to_their_symbol_and_others_ignored(tmp_path: Path) -> None:
    j = journal(tmp_path)
    runners = {"A": runner("A", j), "B": runner("B", j)}
    feed = ListFeed(interleaved(["A", "C", "B"], 4))
    orch = Orchestrator(runners, feed, j)
    assert asyncio.run(orch.run()) == "finished"
    assert [t for _, t in seen(runners["A"])] == [i * 60_000 for i in range(4)]
    assert [t for _, t in seen(runners["B"])] == [i * 60_000 for i in range(4)]
    assert orch.unrouted == 4 and feed.closed


def test_bars_limit_is_per_symbol_and_ends_the_run(tmp_path: Path) -> None:
    j = journal(tmp_path)
    runners = {"A": runner("A", j), "B": runner("B", j)}
    # A has many bars, B few: A stops at 3, B at its end
    bars = [make_bar(i, symbol="A") for i in range(10)] + [make_bar(i, symbol="B") for i in (0, 1)]
    orch = Orchestrator(runners, ListFeed(bars), j, bars=3)
    asyncio.run(orch.run())
    assert runners["A"].stats.bars == 3 and runners["B"].stats.bars == 2


def test_feed_records_are_journaled_and_split_by_symbol(tmp_path: Path) -> None:
    j = journal(tmp_path)
    runners = {"A": runner("A", j)}
    feed = ListFeed([make_bar(0, symbol="A")])
    feed.stats.reject("malformed", "data.csv:3", "5 columns, expected 6")
    feed.stats.reject("invalid", "data.csv:4", "low > high", symbol="A", timestamp=60_000)
    feed.stats.reject("duplicate", "data.csv:5", "identical", symbol="A", timestamp=0)
    orch = Orchestrator(runners, feed, j)
    asyncio.run(orch.run())
    j.flush()
    with sqlite3.connect(j.path) as db:
        got = db.execute("SELECT symbol, kind, location FROM rejected_bars ORDER BY id").fetchall()
    assert got == [(None, "malformed", "data.csv:3"), ("A", "invalid", "data.csv:4")]
    assert orch.feed_rejected == {"?": 1, "A": 1} and orch.feed_duplicates == {"A": 1}


def test_sigint_finishes_the_current_bar_and_stops(tmp_path: Path) -> None:
    j = journal(tmp_path)
    runners = {"A": runner("A", j)}

    def hook(i: int) -> None:
        if i == 5:  # raised while the feed prepares bar 5
            os.kill(os.getpid(), signal.SIGINT)

    orch = Orchestrator(runners, ListFeed([make_bar(i, symbol="A") for i in range(50)], hook), j)
    before = signal.getsignal(signal.SIGINT)
    assert asyncio.run(orch.run()) == "interrupted"
    assert orch.stop_signal == signal.SIGINT
    # bar 5 was already on its way and may be processed; nothing after it is
    assert 5 <= runners["A"].stats.bars <= 6
    assert signal.getsignal(signal.SIGINT) is before  # handler restored


def test_sigterm_while_idle_between_bars_stops_the_run(tmp_path: Path) -> None:
    j = journal(tmp_path)
    runners = {"A": runner("A", j)}

    class SlowFeed(ListFeed):
        async def _gen(self) -> AsyncIterator[Bar]:
            yield make_bar(0, symbol="A")
            asyncio.get_running_loop().call_later(0.05, os.kill, os.getpid(), signal.SIGTERM)
            await asyncio.sleep(30)  # a live feed waiting for the next kline
            yield make_bar(1, symbol="A")

    orch = Orchestrator(runners, SlowFeed([]), j)
    assert asyncio.run(asyncio.wait_for(orch.run(), 10)) == "interrupted"
    assert orch.stop_signal == signal.SIGTERM and runners["A"].stats.bars == 1


def loader_into(log: list[tuple[str, int]]) -> Callable[[Path, str], Recorder]:
    """Loads a Recorder tagged with the file's text; all versions append to ``log``."""

    def load(path: Path, symbol: str) -> Recorder:
        text = path.read_text().strip()
        if text.startswith("broken"):
            raise StrategyError(f"{path}:1: syntax error near 'broken'")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return Recorder(tag=text, sha256=digest, seen=log)

    return load


def test_reload_swaps_between_bars_and_keeps_state(tmp_path: Path) -> None:
    src = tmp_path / "s.lua"
    src.write_text("enter")
    j = journal(tmp_path)
    log: list[tuple[str, int]] = []
    load = loader_into(log)
    r = runner("A", j, load(src, "A"))

    def hook(i: int) -> None:
        if i == 3:
            src.write_text("v2 longer")

    reloader = StrategyReloader({src: [r]}, load, j, interval_s=0.0)
    feed = ListFeed([make_bar(i, symbol="A") for i in range(6)], hook)
    asyncio.run(Orchestrator({"A": r}, feed, j, reloader=reloader).run())
    tags = [tag for tag, _ in log]
    assert tags == ["enter", "enter", "enter", "v2 longer", "v2 longer", "v2 longer"]
    assert r.machine.state is State.ANALYZING  # entered under v1, kept across the reload
    assert r.stats.reloads == 1


def test_broken_reload_keeps_the_old_version_and_is_journaled(tmp_path: Path) -> None:
    src = tmp_path / "s.lua"
    src.write_text("v1")
    j = journal(tmp_path)
    log: list[tuple[str, int]] = []
    load = loader_into(log)
    r = runner("A", j, load(src, "A"))

    def hook(i: int) -> None:
        if i == 2:
            src.write_text("broken version")
        if i == 4:
            src.write_text("v3 fixed")

    reloader = StrategyReloader({src: [r]}, load, j, interval_s=0.0)
    feed = ListFeed([make_bar(i, symbol="A") for i in range(6)], hook)
    asyncio.run(Orchestrator({"A": r}, feed, j, reloader=reloader).run())
    assert [tag for tag, _ in log] == ["v1"] * 4 + ["v3 fixed"] * 2
    assert r.stats.reload_errors == 1 and r.stats.reloads == 1
    j.flush()
    with sqlite3.connect(j.path) as db:
        kind, message = db.execute("SELECT kind, message FROM strategy_errors").fetchone()
    assert kind == "reload" and "previous version keeps running" in message
    assert "syntax error" in message


def test_touching_the_file_without_changing_it_does_not_reload(tmp_path: Path) -> None:
    src = tmp_path / "s.lua"
    src.write_text("v1")
    j = journal(tmp_path)
    log: list[tuple[str, int]] = []
    load = loader_into(log)
    r = runner("A", j, load(src, "A"))
    reloader = StrategyReloader({src: [r]}, load, j, interval_s=0.0)
    st = src.stat()
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    reloader.check()
    assert r.stats.reloads == 0
