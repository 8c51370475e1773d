"""The HTML report in a real browser: Debian's chromium, headless, with no network.

``--dump-dom`` prints the DOM after the page's scripts ran; the page's script writes
what it drew into ``<body data-*>`` (elements with a layout extent) and any script
error or blocked load into ``#js-errors`` / ``<html data-js-errors>``. The browser
runs with every host name unresolvable, so nothing could be fetched even if the
page's Content-Security-Policy allowed it. A missing chromium fails (``make browser``
installs it), it never skips.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from report_data import synthetic_model

from engine.report.html import write_html
from engine.report.model import ReportModel, RunStatus

FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--enable-logging=stderr", "--v=0",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # no name resolves: no network
)


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("chromium is not installed: run `make browser` (Debian: apt-get install "
                    "chromium)", pytrace=False)
    return path


def run_browser(tmp: Path, url: str, *extra: str) -> tuple[str, str]:
    done = subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={tmp / 'profile'}", *extra, url],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, done.stderr


def body_data(dom: str) -> dict[str, str]:
    body = re.search(r"<body([^>]*)>", dom)
    assert body is not None, dom[:500]
    return dict(re.findall(r'data-([\w-]+)="([^"]*)"', body.group(1)))


def console_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines()
            if "CONSOLE" in line and ("Uncaught" in line or "Content Security" in line)]


@pytest.fixture(scope="module")
def model() -> ReportModel:
    return synthetic_model(600, symbols=("BTCUSDT", "ETHUSDT", "SOLUSDT"),
                           status=RunStatus.INTERRUPTED)


def test_the_charts_render_with_every_trade_marked(model: ReportModel, tmp_path: Path) -> None:
    page = write_html(model, tmp_path / "report.html")
    dom, stderr = run_browser(tmp_path, page.as_uri() + "#sort=pnl:desc", "--dump-dom")
    data = body_data(dom)
    trades = sum(len(s.trades) for s in model.symbols)
    assert data["rendered"] == "ok"  # the script ran to its end
    assert int(data["entries-drawn"]) == int(data["exits-drawn"]) == trades
    assert int(data["levels-drawn"]) == 2 * trades  # a stop and a target each
    assert int(data["lines-drawn"]) == 3 * len(model.symbols)  # equity, buy & hold, drawdown
    assert int(data["candles-drawn"]) == len(model.symbols)
    assert "data-js-errors" not in dom and console_errors(stderr) == []
    assert re.search(r'<pre id="js-errors" hidden=""></pre>', dom)
    # the deep link sorted every trade list by P&L, largest first
    first = model.symbols[0]
    rows = re.findall(r'<tr data-trade="(\d+)">', dom.split('id="sym-1"')[0])
    best = max(range(len(first.trades)), key=lambda i: first.trades[i].pnl)
    assert rows[0] == str(best) and len(rows) == len(first.trades)  # fewer than a page
    pnl = [first.trades[int(i)].pnl for i in rows]
    assert pnl == sorted(pnl, reverse=True)
    assert f"trades 1–{len(first.trades)} of {len(first.trades)}" in dom
    assert 'class="symbol active"' in dom  # the first tab is shown
    assert 'id="run-status"' in dom  # interrupted: marked partial


def test_a_script_error_and_a_network_load_are_caught(model: ReportModel,
                                                      tmp_path: Path) -> None:
    # guards the checks above: a broken page must be seen as broken
    text = write_html(model, tmp_path / "ok.html").read_text(encoding="utf-8")
    bad = text.replace('<pre id="js-errors"', "<script>noSuchFunction()</script>"
                       '<img src="http://example.com/x.png"><pre id="js-errors"')
    page = tmp_path / "bad.html"
    page.write_text(bad, encoding="utf-8")
    dom, stderr = run_browser(tmp_path, page.as_uri(), "--dump-dom")
    assert 'data-js-errors="2"' in dom
    assert "noSuchFunction" in dom and "CSP blocked http://example.com/x.png" in dom
    assert len(console_errors(stderr)) == 2


def test_screenshot(model: ReportModel, tmp_path: Path) -> None:
    page = write_html(model, tmp_path / "report.html")
    shot = tmp_path / "report.png"
    run_browser(tmp_path, page.as_uri(), f"--screenshot={shot}", "--window-size=1400,1800",
                "--hide-scrollbars")
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (1400, 1800)
    assert len(png) > 50_000  # a blank page compresses to a few kB


def test_a_real_backtest_reported_from_its_journal(tmp_path: Path) -> None:
    """``backtest`` on the simulated feed, then ``report --html`` from the journal: one
    marker per journaled trade, no script error, nothing fetched."""
    import sqlite3

    from engine.cli import main
    from engine.run import RunConfig, backtest

    strategy = Path(__file__).resolve().parent.parent / "strategies" / "sma_crossover.lua"
    journal = tmp_path / "runs.sqlite"
    backtest(RunConfig(strategy=strategy, bars=3_000, symbols=("BTCUSDT", "ETHUSDT"),
                       journal=journal))
    page = tmp_path / "report.html"
    assert main(["report", "--journal", str(journal), "--html", str(page)]) == 0
    with sqlite3.connect(journal) as db:
        (trades,) = db.execute("SELECT COUNT(*) FROM trades WHERE run_id = 1").fetchone()
    assert trades > 0
    dom, stderr = run_browser(tmp_path, page.as_uri(), "--dump-dom")
    data = body_data(dom)
    assert data["rendered"] == "ok"
    assert int(data["entries-drawn"]) == int(data["exits-drawn"]) == trades
    assert int(data["candles-drawn"]) == 2  # 3,000 bars each: candlesticks
    assert "data-js-errors" not in dom and console_errors(stderr) == []
    shot = tmp_path / "backtest.png"
    run_browser(tmp_path, page.as_uri(), f"--screenshot={shot}", "--window-size=1400,1600",
                "--hide-scrollbars")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
