"""engine/report/html.py: the generated file's structure, its markers and its self-containment."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from report_data import synthetic_model, synthetic_symbol

from engine.errors import ConfigError
from engine.report.html import TRADE_COLUMNS, render_html, write_html
from engine.report.labels import STATISTIC_ROWS
from engine.report.model import Bars, ReportModel, RunStatus
from engine.report.stats import EquitySeries, compute_statistics
from engine.report.svg import CANDLE_LIMIT, LINE_POINTS


class Elements(HTMLParser):
    """Every start tag as (tag, attributes), in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))

    def having(self, cls: str, tag: str | None = None) -> list[dict[str, str | None]]:
        want = set(cls.split())
        return [a for t, a in self.found if (tag is None or t == tag)
                and want <= set((a.get("class") or "").split())]


def parse(text: str) -> Elements:
    p = Elements()
    p.feed(text)
    return p


@pytest.fixture(scope="module")
def page() -> tuple[ReportModel, str]:
    model = synthetic_model(400)
    return model, render_html(model)


def test_one_section_and_tab_per_symbol(page: tuple[ReportModel, str]) -> None:
    _, text = page
    els = parse(text)
    assert [a["data-symbol"] for a in els.having("symbol", "section")] == ["BTCUSDT", "ETHUSDT"]
    assert [a["data-tab"] for _, a in els.found if "data-tab" in a] == ["sym-0", "sym-1"]
    for kind in ("price", "equity", "drawdown"):
        assert len(els.having(f"chart chart-{kind}", "svg")) == 2


def test_markers_and_levels_match_the_trades(page: tuple[ReportModel, str]) -> None:
    model, text = page
    # each symbol's markers sit inside its own section: split the page at the sections
    chunks = text.split('<section class="symbol"')[1:]
    assert len(chunks) == 2
    for sym, chunk in zip(model.symbols, chunks, strict=True):
        els = parse('<section class="symbol"' + chunk)
        n = len(sym.trades)
        assert n >= 15  # 400 bars, a trade every 20
        entries, exits = els.having("marker entry"), els.having("marker exit")
        assert len(entries) == len(exits) == n
        assert [a["data-trade"] for a in entries] == [str(i) for i in range(n)]
        longs = sum(t.side == "long" for t in sym.trades)
        assert len(els.having("marker entry long")) == longs
        wins = sum(t.pnl > 0 for t in sym.trades)
        assert len(els.having("marker exit win")) == wins
        assert els.having("level stop")[0]["data-count"] == str(n)
        assert els.having("level target")[0]["data-count"] == str(n)
        assert els.having("tradelist")[0]["data-count"] == str(n)
        found = re.search(r'class="trade-data">(.*?)</script>', chunk)
        assert found is not None
        data = json.loads(found.group(1))
        assert len(data["rows"]) == len(data["keys"]) == n
        assert [k[10] for k in data["keys"]] == [t.pnl for t in sym.trades]  # the P&L column
        assert els.having("candles")[0]["data-count"] == str(len(sym.bars))


def test_statistics_table_has_every_row(page: tuple[ReportModel, str]) -> None:
    _, text = page
    for _, label, _ in STATISTIC_ROWS:
        assert f"<td>{label.replace('&', '&amp;')}</td>" in text
    heads = re.findall(r'<th data-key="([\w-]+)" data-type="(num|str)">', text)
    assert [k for k, _ in heads[:len(TRADE_COLUMNS)]] == [k for k, _, _ in TRADE_COLUMNS]


def test_no_external_resource(page: tuple[ReportModel, str]) -> None:
    _, text = page
    assert not re.search(r"https?:|ftp:|//[\w.-]+\.\w+/|@import|\burl\(", text, re.I)
    els = parse(text)
    for tag, attrs in els.found:
        assert "src" not in attrs and (tag != "link"), (tag, attrs)
    assert "default-src 'none'" in text  # the CSP forbids loading anything


def test_shadow_mismatches_are_listed(page: tuple[ReportModel, str]) -> None:
    _, text = page
    els = parse(text)
    assert els.having("mismatches", "table")
    assert text.count("<td>rsi</td>") == 2 and "51.250000001" in text
    clean = render_html(synthetic_model(50, mismatches=0))
    assert 'data-clean="true"' in clean and "Every compared value agreed" in clean
    assert 'class="mismatches"' not in clean


@pytest.mark.parametrize(("status", "words"), [
    (RunStatus.RUNNING, "still in progress"),
    (RunStatus.INTERRUPTED, "was interrupted"),
    (RunStatus.FAILED, "failed"),
])
def test_partial_runs_are_marked(status: RunStatus, words: str) -> None:
    text = render_html(synthetic_model(60, status=status))
    assert f'data-status="{status.value}"' in text and words in text
    assert 'id="run-status"' in text and "Partial report" in text


def test_a_complete_run_has_no_partial_banner(page: tuple[ReportModel, str]) -> None:
    assert 'id="run-status"' not in page[1] and ">complete<" in page[1]


def test_long_runs_draw_a_downsampled_line() -> None:
    sym = synthetic_symbol("X", CANDLE_LIMIT + 1, 500, 3)
    text = render_html(ReportModel(1, RunStatus.FINISHED, [sym]))
    els = parse(text)
    assert not els.having("candles")
    line = els.having("price-line")[0]
    assert line["data-bars"] == str(CANDLE_LIMIT + 1)
    assert int(line["data-points"] or 0) <= LINE_POINTS
    assert len(els.having("marker entry")) == len(sym.trades)
    for cls in ("equity", "drawdown", "buyhold"):
        assert int(els.having(cls, "path")[0]["data-points"] or 0) <= LINE_POINTS


def test_an_empty_symbol_and_an_empty_run() -> None:
    empty = Bars(np.array([], dtype=np.int64), *([np.array([])] * 4))
    eq = EquitySeries(np.array([], dtype=np.int64), np.array([]), np.array([], dtype=bool),
                      10_000.0, 60_000)
    sym = synthetic_symbol("X", 1, 20, 0)
    sym = type(sym)("EMPTY", empty, eq, [], compute_statistics(eq, [], empty.close))
    text = render_html(ReportModel(3, RunStatus.INTERRUPTED, [sym]))
    assert "No bars: nothing to draw." in text and "chart-price" not in text
    assert "This run recorded no symbol." in render_html(ReportModel(4, RunStatus.RUNNING, []))


def test_text_is_escaped() -> None:
    model = synthetic_model(30, symbols=("<script>alert(1)</script>",))
    text = render_html(model)
    assert "<script>alert(1)" not in text and "&lt;script&gt;alert(1)" in text
    assert text.count("<script>") == 2  # the error trap and the page's script
    # a "</script>" inside the trade data cannot end its element early
    sym = synthetic_symbol("X", 60, 20, 0)
    t0 = sym.trades[0]
    odd = type(t0)(**{**{f: getattr(t0, f) for f in t0.__slots__},
                      "exit_reason": "</script><script>alert(2)</script>"})
    text = render_html(ReportModel(1, RunStatus.FINISHED, [type(sym)(
        "X", sym.bars, sym.equity, [odd], sym.statistics)]))
    assert "alert(2)" in text and "</script><script>alert(2)" not in text


def test_write_html(tmp_path: Path) -> None:
    out = write_html(synthetic_model(30), tmp_path / "r.html")
    assert out.read_text(encoding="utf-8").startswith("<!doctype html>")
    with pytest.raises(ConfigError, match=r"--html .*missing.*cannot write"):
        write_html(synthetic_model(30), tmp_path / "missing" / "r.html")
    with pytest.raises(ConfigError, match="cannot write"):
        write_html(synthetic_model(30), tmp_path)  # a directory


@pytest.mark.parametrize(("change", "words"), [
    ({"close": np.array([1.0])}, "one length"),
    ({"low": np.array([1.0, 0.0])}, r"low\[1\] = 0.0"),
    ({"high": np.array([1.0, np.nan])}, r"high\[1\]"),
    ({"timestamps": np.array([5, 5])}, "strictly increasing"),
])
def test_bad_bars(change: dict[str, object], words: str) -> None:
    base: dict[str, object] = {"timestamps": np.array([1, 2]), "open": np.array([1.0, 1.0]),
                               "high": np.array([1.0, 1.0]), "low": np.array([1.0, 1.0]),
                               "close": np.array([1.0, 1.0])}
    base.update(change)
    with pytest.raises(ConfigError, match=words):
        Bars(**base)  # type: ignore[arg-type]
