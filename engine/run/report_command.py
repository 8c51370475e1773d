"""``python -m engine report [RUN_ID]``: a run's statistics and trades, from its journal.

Terminal tables (rich, imported here only), ``--json`` (the statistics as one JSON
object per symbol, null for undefined), ``--html FILE`` (the one-file offline report
of engine/report/html.py). ``run --html FILE`` calls ``write_report`` at a run's end.
Errors (no such journal or run, a newer journal, an unwritable file) are ConfigErrors:
one line and exit code 2 (engine/cli.py).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

from engine.errors import ConfigError
from engine.report.html import TRADE_COLUMNS, trade_rows, write_html
from engine.report.labels import statistic_rows
from engine.report.model import ReportModel
from engine.report.stats import TradeRecord
from engine.run.config import ReportConfig
from engine.run.journal import Journal
from engine.run.records import statistics_json
from engine.run.reporting import load_report

if TYPE_CHECKING:
    from rich.table import Table

#: Trades printed per symbol in the terminal (all of them are in --html), and their
#: columns (keys of engine.report.html.TRADE_COLUMNS; the page has them all).
TRADES_SHOWN = 20
TERMINAL_COLUMNS = ("n", "side", "qty", "entry_time", "entry_price", "exit_time",
                    "exit_price", "reason", "pnl", "return", "bars", "mae", "mfe")


def open_journal(path: Path) -> Journal:
    """The journal at ``path`` (migrated to this schema if older); a path that does not
    exist is a ConfigError (a report never creates an empty journal)."""
    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        raise ConfigError(f"--journal {path}: the journal {what}; give the file a run wrote "
                          "(run --journal PATH, default runs.sqlite)")
    return Journal(path, reader=True)


def write_report(journal_path: Path, run_id: int | None, html: Path) -> ReportModel:
    """Write the HTML report of a run; return its model."""
    with open_journal(journal_path) as journal:
        model = load_report(journal, run_id)
    write_html(model, html)
    return model


def report_main(config: ReportConfig) -> int:
    """The ``report`` command; returns the exit code (0)."""
    with open_journal(config.journal) as journal:
        model = load_report(journal, config.run_id)
    if config.html is not None:
        write_html(model, config.html)
    if config.json:
        print(json.dumps(report_json(model), allow_nan=False, separators=(",", ":")))
    else:
        render_report(model)
        if config.html is not None:
            print(f"HTML report: {config.html}")
    return 0


def report_json(model: ReportModel) -> dict[str, object]:
    """The ``--json`` object: run id, status, note and each symbol's statistics."""
    return {
        "run_id": model.run_id,
        "status": model.status.value,
        "partial": model.status.partial,
        "note": model.note or None,
        "symbols": {s.symbol: statistics_json(s.statistics) for s in model.symbols},
        "shadow": None if model.shadow is None else {
            "compared": model.shadow.compared, "mismatches": model.shadow.mismatches,
            "errors": model.shadow.errors, "dropped": model.shadow.dropped},
    }


def render_report(model: ReportModel, file: IO[str] | None = None) -> None:
    """Print the statistics and the first trades of each symbol."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    out = file or sys.stdout
    # a pipe or file gets a table as wide as the trade list, not rich's 80 columns
    console = Console(file=out, highlight=False, width=None if out.isatty() else 160)
    state = f"[bold yellow]{model.status.label} (partial)[/]" if model.status.partial \
        else model.status.label
    console.print(f"Run {model.run_id} · {state} · {model.strategy}")
    if model.note:
        console.print(model.note)
    for sym in model.symbols:
        stats = Table(title=f"{sym.symbol}: statistics", title_justify="left",
                      box=box.SIMPLE_HEAD, pad_edge=False, show_header=False)
        stats.add_column("statistic")
        stats.add_column("value", justify="right")
        for label, value in statistic_rows(sym.statistics):
            stats.add_row(label, value)
        console.print(stats)
        console.print(_trade_table(sym.symbol, sym.trades[:TRADES_SHOWN], len(sym.trades)))
    if model.shadow is not None:
        s = model.shadow
        console.print(f"shadow mode: compared {s.compared:,}, mismatches {s.mismatches:,}, "
                      f"errors {s.errors:,}, dropped {s.dropped:,}")


def _trade_table(symbol: str, trades: Sequence[TradeRecord], total: int) -> Table:
    from rich import box
    from rich.table import Table

    more = f" (first {len(trades):,} of {total:,}; all in --html)" if len(trades) < total else ""
    table = Table(title=f"{symbol}: trades{more}", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    keys = [k for k, _, _ in TRADE_COLUMNS]
    picked = [keys.index(k) for k in TERMINAL_COLUMNS]
    for i in picked:
        _, header, kind = TRADE_COLUMNS[i]
        table.add_column(header, justify="right" if kind == "num" else "left", no_wrap=True)
    for row in trade_rows(trades):
        table.add_row(*(row[i] for i in picked))
    return table
