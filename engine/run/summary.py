"""The run summary: one JSON-ready dict (``--json``) built from the runners.

Shape (docs/design.md §8): totals over all symbols — ``bars``, ``trades`` (closed),
``pnl`` (realized, net of fees), ``fees``, ``open_positions``,
``unrealized_pnl``, ``rejected_bars``, ``duplicate_bars``, ``strategy_errors``,
``log_lines_suppressed`` (held back by the log limits of engine.bounds),
``shadow`` {compared, mismatches, errors, dropped, …} — plus run metadata and
per-symbol detail under ``symbols``. Ratios that are undefined (win rate with no
trade, profit factor with no losing trade) are ``null``, never NaN/Infinity,
so the line is strict JSON.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from engine.market.feeds.stats import FeedStats
from engine.run.runner import SymbolRunner

SHADOW_KEYS = ("compared", "mismatches", "errors", "dropped")


def position_summary(runner: SymbolRunner) -> dict[str, Any] | None:
    """The open position of ``runner`` with its unrealized P&L at the last close."""
    pos = runner.machine.position
    if pos is None:
        return None
    last = runner.window.latest()
    price = None if last is None else last.close
    unrealized = 0.0 if price is None else pos.unrealized_pnl(price)
    return {
        "side": pos.side.value,
        "quantity": pos.quantity,
        "entry_price": pos.entry_price,
        "entry_timestamp": pos.entry_time,
        "stop_loss": pos.stop_loss,
        "take_profit": pos.take_profit,
        "last_price": price,
        "unrealized_pnl": unrealized,
    }


def symbol_summary(
    runner: SymbolRunner, feed_rejected: int = 0, feed_duplicates: int = 0
) -> dict[str, Any]:
    """Per-symbol figures; ``feed_*`` are the feed's own counts for this symbol."""
    s = runner.stats
    account = runner.machine.account
    return {
        "strategy": runner.strategy.path,
        "strategy_sha256": runner.strategy.sha256,
        "bars": s.bars,
        "trades": s.trades,
        "wins": s.wins,
        "win_rate": s.wins / s.trades if s.trades else None,
        "pnl": s.pnl,
        "fees": s.fees,
        "gross_profit": s.gross_profit,
        "gross_loss": s.gross_loss,
        "profit_factor": s.gross_profit / s.gross_loss if s.gross_loss > 0 else None,
        "max_drawdown": account.max_drawdown,
        "equity": account.equity,
        "open_position": position_summary(runner),
        "rejected_bars": s.rejected_bars + feed_rejected,
        "duplicate_bars": s.duplicate_bars + feed_duplicates,
        "strategy_errors": s.strategy_errors,
        "reloads": s.reloads,
        "reload_errors": s.reload_errors,
        "strategy_errors_unjournaled": s.strategy_errors_unjournaled,
        "log_lines_suppressed": runner.log_lines_suppressed(),
        "stopped": runner.stopped,
    }


def shadow_summary(observer_summary: Mapping[str, object] | None) -> dict[str, object]:
    """The observer's counters, with every required key present (zeros without one)."""
    out: dict[str, object] = dict.fromkeys(SHADOW_KEYS, 0)
    if observer_summary is not None:
        out.update(observer_summary)
    return out


def build_summary(
    runners: Mapping[str, SymbolRunner],
    *,
    feed_stats: FeedStats,
    feed_rejected: Mapping[str, int],
    feed_duplicates: Mapping[str, int],
    shadow: Mapping[str, object] | None,
    meta: Mapping[str, Any],
) -> dict[str, Any]:
    """The whole summary: ``meta`` (run id, status, …), totals, shadow, symbols.

    ``feed_stats`` are the feed's global counters (they include records no symbol
    could be read from, e.g. malformed lines); ``feed_rejected`` /
    ``feed_duplicates`` split the feed's records by symbol.
    """
    symbols = {
        name: symbol_summary(r, feed_rejected.get(name, 0), feed_duplicates.get(name, 0))
        for name, r in runners.items()
    }
    rows = list(symbols.values())
    open_rows = [r["open_position"] for r in rows if r["open_position"] is not None]
    return {
        **meta,
        "bars": sum(r["bars"] for r in rows),
        "trades": sum(r["trades"] for r in rows),
        "pnl": math.fsum(r["pnl"] for r in rows),
        "fees": math.fsum(r["fees"] for r in rows),
        "open_positions": len(open_rows),
        "unrealized_pnl": math.fsum(p["unrealized_pnl"] for p in open_rows),
        "rejected_bars": feed_stats.rejected_bars
        + sum(r.stats.rejected_bars for r in runners.values()),
        "duplicate_bars": feed_stats.duplicate_bars
        + sum(r.stats.duplicate_bars for r in runners.values()),
        "strategy_errors": sum(r["strategy_errors"] for r in rows),
        "log_lines_suppressed": sum(r["log_lines_suppressed"] for r in rows),
        "stopped_symbols": [name for name, r in symbols.items() if r["stopped"]],
        "shadow": shadow_summary(shadow),
        "symbols": symbols,
    }


def strict_json(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None, recursively, so the
    summary is strict JSON whatever an observer reported."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): strict_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(v) for v in value]
    return value
