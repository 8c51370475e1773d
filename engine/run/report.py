"""Human output of ``run``: the summary table and the progress bar (stderr).

``rich`` is imported inside the functions: importing ``rich.progress`` alone
costs ≈ 80 ms, which a ``--json`` backtest should not pay.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import IO, Any


def _money(x: float) -> str:
    return f"{x:,.2f}"


def _ratio(x: float | None, pct: bool = False) -> str:
    if x is None:
        return "–"
    return f"{100 * x:.1f}%" if pct else f"{x:.2f}"


def _position(pos: Mapping[str, Any] | None) -> str:
    if pos is None:
        return "–"
    return (
        f"{pos['side']} {pos['quantity']:g} @ {pos['entry_price']:,.6g} "
        f"(uPnL {_money(pos['unrealized_pnl'])})"
    )


def render_summary(summary: Mapping[str, Any], file: IO[str] | None = None) -> None:
    """Print the per-symbol table and the run's counters to ``file`` (stdout)."""
    from rich.console import Console
    from rich.table import Table

    out = file or sys.stdout
    # a pipe or file gets a wide table rather than rich's 80-column default
    console = Console(file=out, highlight=False, width=None if out.isatty() else 140)
    table = Table(title=f"Run {summary['run_id']} · {summary['status']}", title_justify="left")
    table.add_column("symbol", no_wrap=True)
    for name in ("bars", "trades", "win rate", "realized P&L", "fees"):
        table.add_column(name, justify="right", no_wrap=True)
    for name in ("max drawdown", "profit factor", "open position"):
        table.add_column(name, justify="right")
    for symbol, row in summary["symbols"].items():
        table.add_row(
            symbol,
            f"{row['bars']:,}",
            f"{row['trades']:,}",
            _ratio(row["win_rate"], pct=True),
            _money(row["pnl"]),
            _money(row["fees"]),
            _money(row["max_drawdown"]),
            _ratio(row["profit_factor"]),
            _position(row["open_position"]),
        )
    if len(summary["symbols"]) > 1:
        table.add_section()
        table.add_row(
            "total",
            f"{summary['bars']:,}",
            f"{summary['trades']:,}",
            "",
            _money(summary["pnl"]),
            _money(summary["fees"]),
            "",
            "",
            f"{summary['open_positions']} open (uPnL {_money(summary['unrealized_pnl'])})",
        )
    console.print(table)
    console.print(_counters_line(summary))
    for symbol, row in summary["symbols"].items():
        if row["stopped"]:
            console.print(f"[bold red]{symbol}: {row['stopped']}[/]")


def _counters_line(summary: Mapping[str, Any]) -> str:
    shadow = summary["shadow"]
    parts = [
        f"rejected bars {summary['rejected_bars']}",
        f"duplicate bars {summary['duplicate_bars']}",
        f"strategy errors {summary['strategy_errors']}",
    ]
    if shadow.get("compared") or shadow.get("errors"):
        parts.append(
            f"shadow: compared {shadow['compared']}, mismatches {shadow['mismatches']}, "
            f"errors {shadow['errors']}, dropped {shadow['dropped']}"
        )
    parts.append(f"journal {summary['journal']} (run {summary['run_id']})")
    parts.append(f"{summary['elapsed_s']:.2f} s")
    return " · ".join(parts)


ProgressUpdate = Callable[[int], None]


def progress_bar(total: int | None) -> tuple[AbstractContextManager[Any], ProgressUpdate | None]:
    """A rich progress bar on stderr for a finite feed shown on a terminal.

    Returns (context manager, update(bars_done)); (nullcontext, None) when the
    feed is endless or stderr is not a terminal.
    """
    if total is None or not sys.stderr.isatty():
        return nullcontext(), None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
    )
    task = progress.add_task("bars", total=total)

    def update(done: int) -> None:
        progress.update(task, completed=done)

    return progress, update
