"""A run's report from its journal: the ``ReportModel`` of engine/report (docs/design.md §8).

``load_report(journal, run_id)`` reads the ``runs`` row (status, starting equity,
interval, summary), the stored equity series (engine/run/equity.py), the trades, the
exact statistics of ``run_stats`` and the shadow-mode mismatches. A run without
``run_stats`` (still running, killed, or from a schema-1 journal) gets statistics
computed from what is stored, and the report says so.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from engine.errors import ConfigError
from engine.report.model import (
    Bars,
    MismatchRecord,
    ReportModel,
    RunStatus,
    ShadowResult,
    SymbolReport,
)
from engine.report.stats import EquitySeries, Statistics, TradeRecord, compute_statistics
from engine.run.equity import EQUITY_COLUMNS, PRICE_COLUMNS, exposure_mask, observed_interval
from engine.run.journal import Journal
from engine.state.execution import DEFAULT_CASH

#: Bar interval assumed for a schema-1 run with fewer than two stored bars.
FALLBACK_INTERVAL_MS = 60_000
#: Mismatches listed in the report (all of them are counted).
MISMATCHES_LISTED = 1_000
_EQ = {name: i for i, name in enumerate(EQUITY_COLUMNS)}
_PX = {name: i for i, name in enumerate(PRICE_COLUMNS)}
_STAT_FIELDS = {f.name for f in dataclasses.fields(Statistics)}


def trade_record(row: Mapping[str, object]) -> TradeRecord:
    """One ``trades`` row (``Journal.trades``) as a TradeRecord (missing facts: None)."""
    def opt(name: str) -> Any:
        return row.get(name)

    return TradeRecord(
        side=str(row["side"]), quantity=float(opt("quantity")),
        entry_timestamp=int(opt("entry_timestamp")), entry_price=float(opt("entry_price")),
        exit_timestamp=int(opt("exit_timestamp")), exit_price=float(opt("exit_price")),
        fees=float(opt("fees")), pnl=float(opt("pnl")), exit_reason=str(row["exit_reason"]),
        stop_loss=opt("stop_loss"), take_profit=opt("take_profit"),
        entry_reason=opt("entry_reason"), exit_note=opt("exit_note"),
        slippage=opt("slippage"), bars_held=opt("bars_held"),
        mae_pct=opt("mae_pct"), mfe_pct=opt("mfe_pct"),
    )


def trades_by_symbol(journal: Journal, run_id: int) -> dict[str, list[TradeRecord]]:
    """The run's closed trades, per symbol, in close order."""
    out: dict[str, list[TradeRecord]] = {}
    for row in journal.trades(run_id):
        out.setdefault(str(row["symbol"]), []).append(trade_record(row))
    return out


def pick_run(journal: Journal, run_id: int | None) -> dict[str, object]:
    """The ``runs`` row of ``run_id`` (the latest run when None); a ConfigError naming
    the latest ids when there is no such run."""
    latest = journal.run_ids(limit=5)
    if not latest:
        raise ConfigError(f"--journal {journal.path}: the journal has no runs yet")
    row = journal.run_row(latest[0] if run_id is None else run_id)
    if row is None:
        ids = ", ".join(map(str, latest))
        raise ConfigError(f"run {run_id} is not in {journal.path}; its latest runs: {ids}")
    return row


def load_report(journal: Journal, run_id: int | None = None) -> ReportModel:
    """The whole report of one run (the latest when ``run_id`` is None)."""
    row = pick_run(journal, run_id)
    rid = int(str(row["id"]))
    try:
        status = RunStatus(str(row["status"]))
    except ValueError:
        raise ConfigError(f"run {rid}: unknown status {row['status']!r} in the journal") from None
    summary = json.loads(str(row["summary"])) if row["summary"] else {}
    notes: list[str] = []
    start = row.get("starting_equity")
    if start is None:
        notes.append(f"starting equity not journaled (schema 1): "
                     f"{DEFAULT_CASH:,.0f} assumed.")
        start = DEFAULT_CASH
    exact = journal.run_stats(rid)
    trades = trades_by_symbol(journal, rid)
    symbols = [str(s) for s in json.loads(str(row["symbols"]))]
    reports = []
    for sym in symbols:
        rep, note = _symbol_report(journal, rid, sym, float(str(start)), row, summary,
                                   trades.get(sym, []), exact.get(sym))
        reports.append(rep)
        notes += [note] if note else []
    return ReportModel(
        run_id=rid, status=status, symbols=reports, shadow=_shadow(journal, rid, summary),
        strategy=str(row["strategy_path"]), note=" ".join(notes),
    )


def _symbol_report(journal: Journal, run_id: int, symbol: str, start: float,
                   row: Mapping[str, object], summary: Mapping[str, Any],
                   trades: Sequence[TradeRecord],
                   exact: tuple[int, dict[str, Any]] | None) -> tuple[SymbolReport, str]:
    bucket, pts = journal.series(run_id, symbol, "equity", len(EQUITY_COLUMNS))
    price_bucket, px = journal.series(run_id, symbol, "price", len(PRICE_COLUMNS))
    ts = pts[:, _EQ["timestamp"]].astype(np.int64)
    interval = _interval(row, exact, ts)
    bars = Bars(px[:, _PX["timestamp"]].astype(np.int64), px[:, _PX["open"]],
                px[:, _PX["high"]], px[:, _PX["low"]], px[:, _PX["close"]])
    spans: list[tuple[int, int | None]] = [(t.entry_timestamp, t.exit_timestamp)
                                           for t in trades]
    open_pos = summary.get("symbols", {}).get(symbol, {}).get("open_position")
    if open_pos:
        spans.append((int(open_pos["entry_timestamp"]), None))
    eq = EquitySeries(ts + interval, pts[:, _EQ["equity"]], exposure_mask(ts, spans),
                      start, interval, drawdown=pts[:, _EQ["drawdown"]])
    if exact is not None:
        stats = Statistics(**{k: v for k, v in exact[1].items() if k in _STAT_FIELDS})
        note = ""
    else:
        stats = compute_statistics(eq, trades, bars.close)
        note = (f"{symbol}: no bars recorded." if not len(bars) else
                f"{symbol}: statistics from the {len(bars):,} stored points"
                + (f" (buckets of {bucket} bars: approximate)." if bucket > 1 else "."))
    return SymbolReport(symbol, bars, eq, trades, stats, price_bucket), note


def _interval(row: Mapping[str, object], exact: tuple[int, object] | None,
              ts: np.ndarray[Any, np.dtype[np.int64]]) -> int:
    if exact is not None:
        return exact[0]
    if row.get("interval_ms"):
        return int(str(row["interval_ms"]))
    return observed_interval(ts, FALLBACK_INTERVAL_MS)


def _shadow(journal: Journal, run_id: int, summary: Mapping[str, Any]) -> ShadowResult | None:
    """Shadow mode's result: the summary's counters, the journal's mismatches; None
    for a run without shadow mode."""
    counts = summary.get("shadow") or {}
    listed = journal.mismatches(run_id)
    if not counts.get("compared") and not counts.get("errors") and not listed:
        return None
    records = [
        MismatchRecord(
            symbol=str(m["symbol"]), timestamp=int(str(m["timestamp"])),
            indicator=str(m["indicator"]), params=json.loads(str(m["params"])),
            output=str(m["output"]), python_value=_opt_float(m["python_value"]),
            ocaml_value=_opt_float(m["ocaml_value"]), scaled_error=_opt_float(m["scaled_error"]),
            ulp_distance=None if m["ulp_distance"] is None else int(str(m["ulp_distance"])),
        ) for m in listed[:MISMATCHES_LISTED]
    ]
    return ShadowResult(
        compared=int(counts.get("compared") or 0),
        mismatches=max(int(counts.get("mismatches") or 0), len(listed)),
        errors=int(counts.get("errors") or 0), dropped=int(counts.get("dropped") or 0),
        mismatch_list=records,
    )


def _opt_float(x: object) -> float | None:
    return None if x is None else float(str(x))
