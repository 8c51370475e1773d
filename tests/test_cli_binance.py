"""``run --feed binance`` end to end against the fake Binance of test_feed_binance_fake
(127.0.0.1): bars reach the strategy, the feed's rejects reach summary and journal."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_feed_binance_fake import FakeBinance, Running, Script, truth

from engine.cli import main

RECORD_CLOSES = """
function detect_opportunity(m, c, i)
  if m.close > 120 then return {} end
  return nil
end
function filter_commitment(m, c, i) return {action = "enter_long", quantity = 0.1} end
function manage_position(m, c, i)
  if m.close < 115 then return {action = "exit"} end
  return nil
end
"""


@pytest.fixture
def servers() -> Iterator[tuple[str, str]]:
    """The fake's WebSocket and REST URLs, served from a thread with its own loop."""
    b, e = "BTCUSDT", "ETHUSDT"
    actions: list[tuple[object, ...]] = []
    for i in range(25):  # exactly --bars: an unread backlog would slow the client's close
        actions += [("bar", b, i), ("bar", e, i)]
        if i == 3:
            actions += [("raw", "{not json"), ("bar", b, 3)]  # malformed, duplicate
    yield from serving(FakeBinance({b: truth(b, 30), e: truth(e, 30)}, [Script(-1, actions)]))


@pytest.fixture
def warm_servers() -> Iterator[tuple[str, str]]:
    """Bars 0..9 of BTCUSDT closed before the run starts; the stream sends 10..14."""
    b = "BTCUSDT"
    actions: list[tuple[object, ...]] = [("bar", b, i) for i in range(10, 15)]
    yield from serving(FakeBinance({b: truth(b, 30)}, [Script(9, actions)], history_level=9))


def serving(fake: FakeBinance) -> Iterator[tuple[str, str]]:
    ready, urls = threading.Event(), []
    stop: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def serve() -> None:
        async with Running(fake) as running:
            urls.extend([running.ws_url, running.rest_url])
            stop.append((asyncio.get_running_loop(), asyncio.Event()))
            ready.set()
            await stop[0][1].wait()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    yield urls[0], urls[1]
    loop, event = stop[0]
    loop.call_soon_threadsafe(event.set)
    thread.join(10)


def test_run_over_the_fake_binance_feed(
    servers: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    strategy = tmp_path / "s.lua"
    strategy.write_text(RECORD_CLOSES)
    journal = tmp_path / "j.sqlite"
    ws, rest = servers
    code = main(["run", "--strategy", str(strategy), "--feed", "binance", "--symbols",
                 "BTCUSDT,ETHUSDT", "--bars", "25", "--binance-ws-url", ws,
                 "--binance-rest-url", rest, "--journal", str(journal), "--json"])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0
    assert summary["bars"] == 50 and summary["symbols"]["BTCUSDT"]["bars"] == 25
    assert summary["rejected_bars"] == 1 and summary["duplicate_bars"] == 1
    # closes are 101 + (i % 50): enter at the first close above 120 (i = 20, the bar
    # after detection: filter_commitment runs at i = 21), still holding at i = 24
    pos = summary["symbols"]["BTCUSDT"]["open_position"]
    assert pos is not None and pos["entry_price"] == 122.0
    with sqlite3.connect(journal) as db:
        kinds = db.execute("SELECT source, kind FROM rejected_bars").fetchall()
    assert kinds == [("feed", "malformed")]


SEE_HISTORY = """
function detect_opportunity(m, c, i)
  print(m.index, history("close", 1), history("close", 10), history("close", 11))
end
function filter_commitment() end
function manage_position() end
"""


def test_history_warms_the_window_before_the_first_live_bar(
    warm_servers: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    strategy = tmp_path / "s.lua"
    strategy.write_text(SEE_HISTORY)
    ws, rest = warm_servers
    with caplog.at_level("INFO"):
        code = main(["run", "--strategy", str(strategy), "--feed", "binance", "--bars", "5",
                     "--history", "10", "--binance-ws-url", ws, "--binance-rest-url", rest,
                     "--journal", str(tmp_path / "j.sqlite"), "--json"])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and summary["bars"] == 5  # the 10 history bars are not run bars
    lines = [r.getMessage() for r in caplog.records if r.name == "tandem.lua.BTCUSDT"]
    # truth closes are 101 + i: the first live bar (i = 10) is the 11th bar seen; one bar
    # back is bar 9 (110), ten back bar 0 (101), eleven back is before the history
    assert lines[0] == "11\t110.0\t101.0\tnil"
    assert len(lines) == 5 and lines[-1].startswith("15\t")


def test_an_unknown_binance_symbol_fails_the_run_at_start(
    servers: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    strategy = tmp_path / "s.lua"
    strategy.write_text(SEE_HISTORY)
    ws, rest = servers
    code = main(["run", "--strategy", str(strategy), "--feed", "binance", "--symbols",
                 "BTCUSDT,NOPEUSDT", "--binance-ws-url", ws, "--binance-rest-url", rest,
                 "--journal", str(tmp_path / "j.sqlite"), "--json"])
    captured = capsys.readouterr()
    assert code != 0
    assert "Binance does not know the symbol 'NOPEUSDT'" in captured.err
    assert json.loads(captured.out.strip().splitlines()[-1])["bars"] == 0
