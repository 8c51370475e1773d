"""The HTML report: one self-contained, offline file rendered from a ``ReportModel``.

No CDN and no plotting library: the charts are inline SVG drawn by ``engine.report.svg``,
the page's CSS and JavaScript (tabs, sortable trade list, cursor, tooltips) are inlined
from ``assets/``. A Content-Security-Policy of ``default-src 'none'`` forbids the page
to load anything at all. Script errors are written into ``#js-errors``; a page whose
script ran to the end has ``<body data-rendered="ok">``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from html import escape
from importlib.resources import files
from pathlib import Path

from engine.errors import ConfigError
from engine.report.labels import format_duration, format_time, statistic_rows
from engine.report.model import ReportModel, ShadowResult, SymbolReport
from engine.report.stats import TradeRecord
from engine.report.svg import drawdown_chart, equity_chart, legend, price_chart, time_axis

CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
       "img-src data:")

# Runs before anything else: any error (or CSP violation) of the page is shown in it.
ERROR_TRAP = """<script>(function(){var errs=[];function put(m){errs.push(String(m));
var el=document.getElementById('js-errors');if(el){el.textContent=errs.join('\\n');el.hidden=false;}
document.documentElement.dataset.jsErrors=errs.length;}
window.addEventListener('error',function(e){put(e.message||'error')});
document.addEventListener('securitypolicyviolation',function(e){put('CSP blocked '+e.blockedURI)});
})();</script>"""

#: (data-key, header, data-type) of the trade list's columns.
TRADE_COLUMNS = (
    ("n", "#", "num"), ("side", "Side", "str"), ("qty", "Qty", "num"),
    ("entry_time", "Entry time", "num"), ("entry_price", "Entry", "num"),
    ("exit_time", "Exit time", "num"), ("exit_price", "Exit", "num"),
    ("reason", "Exit reason", "str"), ("stop", "Stop", "num"), ("target", "Target", "num"),
    ("pnl", "P&L", "num"), ("return", "Return %", "num"), ("fees", "Fees", "num"),
    ("slippage", "Slippage", "num"), ("duration", "Duration", "num"),
    ("bars", "Bars held", "num"), ("mae", "MAE %", "num"), ("mfe", "MFE %", "num"),
    ("entry_reason", "Entry reason", "str"),
)


def _asset(name: str) -> str:
    return (files("engine.report") / "assets" / name).read_text(encoding="utf-8")


def _script_safe(text: str) -> str:
    """Inline script text that cannot close its own ``<script>`` element: ``</script``
    becomes ``<\\/script`` (the same string in JSON and in a JS string literal)."""
    return re.sub(r"</(script)", r"<\\/\1", text, flags=re.IGNORECASE)


def _price(x: float | None) -> str:
    return "–" if x is None else f"{x:,.6g}"


def _opt_fixed(x: float | None, digits: int) -> str:
    return "–" if x is None else f"{x:,.{digits}f}"


#: the trade list's pages (the rows are built by the page's script: 10^4 rows of static
#: HTML took seconds to parse and lay out)
PAGE_ROWS = 200


def _trade_cells(i: int, t: TradeRecord) -> tuple[list[str], list[float | int | None]]:
    """The formatted cells of one trade and the keys they sort by (None: by the text)."""
    cells = [str(i + 1), t.side, f"{t.quantity:g}", format_time(t.entry_timestamp),
             _price(t.entry_price), format_time(t.exit_timestamp), _price(t.exit_price),
             t.exit_reason, _price(t.stop_loss), _price(t.take_profit), f"{t.pnl:,.2f}",
             f"{t.return_pct:.2f}", f"{t.fees:,.2f}", _opt_fixed(t.slippage, 2),
             format_duration(t.duration_ms), _opt_fixed(t.bars_held, 0),
             _opt_fixed(t.mae_pct, 2), _opt_fixed(t.mfe_pct, 2), t.entry_reason or ""]
    keys: list[float | int | None] = [
        i + 1, None, t.quantity, t.entry_timestamp, t.entry_price, t.exit_timestamp,
        t.exit_price, None, t.stop_loss, t.take_profit, t.pnl, t.return_pct, t.fees,
        t.slippage, t.duration_ms, t.bars_held, t.mae_pct, t.mfe_pct, None]
    return cells, keys


def trade_rows(trades: Sequence[TradeRecord]) -> list[list[str]]:
    """The formatted cells of each trade, in ``TRADE_COLUMNS`` order."""
    return [_trade_cells(i, t)[0] for i, t in enumerate(trades)]


def trade_data(trades: Sequence[TradeRecord]) -> dict[str, object]:
    """What the page's script builds the trade list from: ``rows`` (cell texts),
    ``keys`` (sort keys, null = sort by text or last), ``signed`` (columns coloured by sign)."""
    rows, keys = [], []
    for i, t in enumerate(trades):
        cells, k = _trade_cells(i, t)
        rows.append(cells)
        keys.append(k)
    signed = [k in ("pnl", "return") for k, _, _ in TRADE_COLUMNS]
    return {"rows": rows, "keys": keys, "signed": signed, "page": PAGE_ROWS}


def trade_table(trades: Sequence[TradeRecord]) -> str:
    """The sortable, paged trade list: headers here, rows drawn by the script from the
    JSON beside it (``data-trade`` = the index the chart markers use)."""
    head = "".join(f'<th data-key="{k}" data-type="{ty}">{escape(label)}</th>'
                   for k, label, ty in TRADE_COLUMNS)
    payload = json.dumps(trade_data(trades), allow_nan=False, separators=(",", ":"))
    return (f'<div class="tradelist" data-count="{len(trades)}"><div class="pager"></div>'
            f'<div class="tablewrap"><table class="trades sortable"><thead><tr>{head}</tr>'
            f"</thead><tbody></tbody></table></div>"
            f'<script type="application/json" class="trade-data">{_script_safe(payload)}'
            "</script><noscript>The trade list needs JavaScript.</noscript></div>")


def stats_table(sym: SymbolReport) -> str:
    """The statistics, one row each (undefined ones as "–")."""
    rows = "".join(f"<tr><td>{escape(label)}</td><td>{escape(value)}</td></tr>"
                   for label, value in statistic_rows(sym.statistics))
    return f'<table class="stats"><tbody>{rows}</tbody></table>'


def symbol_section(i: int, sym: SymbolReport) -> str:
    """One symbol's tab: the three charts, its statistics and its trade list."""
    if len(sym.bars) and sym.equity.bars:
        axis = time_axis(sym.bars, sym.equity)
        charts = (
            '<h3>Price</h3><div class="legend">'
            + legend([("k-long", "long entry"), ("k-short", "short entry"),
                      ("k-win", "winning exit"), ("k-loss", "losing exit")])
            + "</div>" + price_chart(sym.bars, sym.trades, axis, sampled=sym.price_bucket > 1)
            + '<h3>Equity</h3><div class="legend">'
            + legend([("k-equity", "marked equity"), ("k-hold", "buy & hold")]) + "</div>"
            + equity_chart(sym.equity, sym.bars, axis)
            + "<h3>Drawdown</h3>" + drawdown_chart(sym.equity, axis)
        )
    else:
        charts = '<p class="empty">No bars: nothing to draw.</p>'
    return (
        f'<section class="symbol" id="sym-{i}" data-symbol="{escape(sym.symbol)}">'
        f"<h2>{escape(sym.symbol)}</h2>"
        f'<div class="layout"><div class="charts">{charts}</div>'
        f"<aside><h3>Statistics</h3>{stats_table(sym)}</aside></div>"
        f"<h3>Trades ({len(sym.trades):,})</h3>{trade_table(sym.trades)}</section>"
    )


def _opt(x: float | int | None) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return repr(x) if isinstance(x, float) else str(x)  # the shortest exact float


def shadow_section(shadow: ShadowResult | None) -> str:
    """Shadow mode's counters and, when there are any, its mismatches."""
    if shadow is None:
        return ('<section id="shadow"><h2>Shadow mode</h2>'
                '<p class="empty">Not run with --shadow-ocaml.</p></section>')
    clean = shadow.mismatches == 0 and shadow.errors == 0
    verdict = ('<p class="ok">Every compared value agreed.</p>' if clean else
               f'<p class="bad">{shadow.mismatches:,} mismatches, {shadow.errors:,} errors.</p>')
    counts = "".join(f"<tr><td>{k}</td><td>{v:,}</td></tr>" for k, v in (
        ("compared", shadow.compared), ("mismatches", shadow.mismatches),
        ("errors", shadow.errors), ("dropped", shadow.dropped)))
    table = ""
    if shadow.mismatch_list:
        head = "".join(f"<th>{h}</th>" for h in ("Symbol", "Time", "Indicator", "Params",
                       "Output", "Python", "OCaml", "Scaled error", "ULPs"))
        rows = "".join(
            f"<tr><td>{escape(m.symbol)}</td><td>{format_time(m.timestamp)}</td>"
            f"<td>{escape(m.indicator)}</td><td>{escape(', '.join(map(str, m.params)))}</td>"
            f"<td>{escape(m.output)}</td><td>{_opt(m.python_value)}</td>"
            f"<td>{_opt(m.ocaml_value)}</td><td>{_opt(m.scaled_error)}</td>"
            f"<td>{_opt(m.ulp_distance)}</td></tr>" for m in shadow.mismatch_list)
        table = (f'<h3>Mismatches ({len(shadow.mismatch_list):,} listed)</h3>'
                 f'<div class="tablewrap"><table class="mismatches"><thead><tr>{head}</tr>'
                 f"</thead><tbody>{rows}</tbody></table></div>")
    return (f'<section id="shadow" data-clean="{str(clean).lower()}"><h2>Shadow mode</h2>'
            f'{verdict}<table class="shadow-counts"><tbody>{counts}</tbody></table>'
            f"{table}</section>")


def _banner(model: ReportModel) -> str:
    if not model.status.partial:
        return ""
    what = {"running": "the run is still in progress",
            "interrupted": "the run was interrupted",
            "failed": "the run failed"}[model.status.value]
    note = f" {escape(model.note)}" if model.note else ""
    return (f'<div class="banner partial" id="run-status" data-status="{model.status.value}">'
            f"<strong>Partial report:</strong> {what}; this shows what it recorded.{note}</div>")


def render_html(model: ReportModel) -> str:
    """The whole page as one string."""
    title = model.title + (f" #{model.run_id}" if model.run_id is not None else "")
    tabs = "".join(f'<button type="button" data-tab="sym-{i}">{escape(s.symbol)}</button>'
                   for i, s in enumerate(model.symbols))
    sections = "".join(symbol_section(i, s) for i, s in enumerate(model.symbols))
    if not model.symbols:
        sections = '<section><p class="empty">This run recorded no symbol.</p></section>'
    meta = escape(model.strategy)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>{ERROR_TRAP}"
        f"<style>{_asset('report.css')}</style></head>"
        f'<body data-rendered="no" data-status="{model.status.value}">'
        f'<header><h1>{escape(title)}</h1><span class="badge {model.status.value}">'
        f'{escape(model.status.label)}</span><span class="meta">{meta}</span></header>'
        f"{_banner(model)}"
        f'<nav class="tabs">{tabs}</nav>{sections}{shadow_section(model.shadow)}'
        '<pre id="js-errors" hidden></pre><div id="tooltip" hidden></div>'
        f"<script>{_script_safe(_asset('report.js'))}</script></body></html>"
    )


def write_html(model: ReportModel, path: str | Path) -> Path:
    """Render ``model`` and write it to ``path`` (UTF-8); a path that cannot be
    written is a ``ConfigError`` naming it."""
    target = Path(path)
    text = render_html(model)
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"--html {target}: cannot write the report ({exc.strerror or exc}); "
            "choose a writable file path"
        ) from exc
    return target
