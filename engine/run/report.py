"""Human output of ``run``: the summary table and the progress bar (stderr).

``rich`` is imported inside the functions: importing ``rich.progress`` alone
costs ≈ 80 ms, which a ``--json`` backtest should not pay.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.table import Table


def _money(x: float) -> str:
    return f"{x:,.2f}"


def _ratio(x: float | None, pct: bool = False) -> str:
    if x is None:
        return "–"
    return f"{100 * x:.1f}%" if pct else f"{x:.2f}"


def _price(x: float | None) -> str:
    return "–" if x is None else f"{x:,.6g}"


def render_summary(summary: Mapping[str, Any], file: IO[str] | None = None) -> None:
    """Print the per-symbol table, open positions and the run's counters to ``file``."""
    from rich.console import Console

    out = file or sys.stdout
    # a pipe or file gets a wide table rather than rich's 80-column default
    console = Console(file=out, highlight=False, width=None if out.isatty() else 120)
    console.print(_results_table(summary))
    positions = _positions_table(summary)
    if positions is not None:
        console.print(positions)
    console.print(_counters_line(summary))
    for symbol, row in summary["symbols"].items():
        if row["stopped"]:
            console.print(f"[bold red]{symbol}: {row['stopped']}[/]")


def _results_table(summary: Mapping[str, Any]) -> Table:
    from rich import box
    from rich.table import Table

    table = Table(
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        title=f"Run {summary['run_id']} · {summary['status']}",
        title_justify="left",
        caption="P&L: realized, net of fees · DD: drawdown of marked equity · "
        "PF: profit factor (gross profit / gross loss)",
        caption_justify="left",
    )
    table.add_column("symbol", no_wrap=True)
    for name in ("bars", "trades", "win %", "P&L", "fees", "max DD", "PF"):
        table.add_column(name, justify="right", no_wrap=True)
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
        )
    if len(summary["symbols"]) > 1:
        table.add_section()
        table.add_row("total", f"{summary['bars']:,}", f"{summary['trades']:,}", "",
                      _money(summary["pnl"]), _money(summary["fees"]), "", "")
    return table


def _positions_table(summary: Mapping[str, Any]) -> Table | None:
    from rich import box
    from rich.table import Table

    rows = [(s, r["open_position"]) for s, r in summary["symbols"].items() if r["open_position"]]
    if not rows:
        return None
    table = Table(title="Open positions (left open at the end of the feed)",
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("symbol", no_wrap=True)
    for name in ("side", "qty", "entry", "last", "stop", "target", "unrealized"):
        table.add_column(name, justify="right")
    for symbol, p in rows:
        table.add_row(symbol, p["side"], f"{p['quantity']:g}", _price(p["entry_price"]),
                      _price(p["last_price"]), _price(p["stop_loss"]),
                      _price(p["take_profit"]), _money(p["unrealized_pnl"]))
    return table


def _counters_line(summary: Mapping[str, Any]) -> str:
    shadow = summary["shadow"]
    parts = [
        f"rejected bars {summary['rejected_bars']}",
        f"duplicate bars {summary['duplicate_bars']}",
        f"strategy errors {summary['strategy_errors']}",
    ]
    if shadow.get("compared") or shadow.get("errors"):
        where = _SHADOW_PLACES.get(shadow.get("runs_in"), "")
        parts.append(
            f"shadow{where}: compared {shadow['compared']}, mismatches {shadow['mismatches']}, "
            f"errors {shadow['errors']}, dropped {shadow['dropped']}"
            + _latency(shadow.get("latency_ms"))
        )
    suppressed = summary.get("log_lines_suppressed", 0)
    if suppressed:
        parts.append(f"… {suppressed:,} more log lines suppressed")
    parts.append(f"journal {summary['journal']} (run {summary['run_id']})")
    parts.append(f"{summary['elapsed_s']:.2f} s")
    return " · ".join(parts)


#: How the counters line names where shadow mode checked (its summary's ``runs_in``).
_SHADOW_PLACES = {"process": " (forked process)", "run": " (in the run)"}


def _latency(latency: object) -> str:
    """", candidate round trip p50 0.4 ms / p99 9.1 ms" when shadow mode measured any."""
    if not isinstance(latency, Mapping) or latency.get("p50") is None:
        return ""
    return (f", candidate round trip p50 {latency['p50']:.2f} ms / "
            f"p99 {latency['p99']:.2f} ms")


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
