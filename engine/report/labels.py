"""How each statistic is named and printed: one table for the HTML report and the terminal."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Literal

from engine.report.stats import Statistics

Kind = Literal["time", "duration", "pct", "money", "ratio", "count"]

#: (Statistics field, label, kind), in display order.
STATISTIC_ROWS: tuple[tuple[str, str, Kind], ...] = (
    ("start_ms", "Start", "time"),
    ("end_ms", "End", "time"),
    ("duration_ms", "Duration", "duration"),
    ("bars", "Bars", "count"),
    ("exposure_time_pct", "Exposure time", "pct"),
    ("equity_final", "Equity final", "money"),
    ("equity_peak", "Equity peak", "money"),
    ("return_pct", "Return", "pct"),
    ("buy_hold_return_pct", "Buy & hold return", "pct"),
    ("return_ann_pct", "Return (ann.)", "pct"),
    ("volatility_ann_pct", "Volatility (ann.)", "pct"),
    ("sharpe_ratio", "Sharpe ratio (rf 0)", "ratio"),
    ("sortino_ratio", "Sortino ratio", "ratio"),
    ("calmar_ratio", "Calmar ratio", "ratio"),
    ("max_drawdown_pct", "Max drawdown", "pct"),
    ("avg_drawdown_pct", "Avg drawdown", "pct"),
    ("max_drawdown_duration_ms", "Max drawdown duration", "duration"),
    ("avg_drawdown_duration_ms", "Avg drawdown duration", "duration"),
    ("trades", "Trades", "count"),
    ("win_rate_pct", "Win rate", "pct"),
    ("best_trade_pct", "Best trade", "pct"),
    ("worst_trade_pct", "Worst trade", "pct"),
    ("avg_trade_pct", "Avg trade (geometric)", "pct"),
    ("max_trade_duration_ms", "Max trade duration", "duration"),
    ("avg_trade_duration_ms", "Avg trade duration", "duration"),
    ("profit_factor", "Profit factor", "ratio"),
    ("expectancy_pct", "Expectancy (mean trade)", "pct"),
    ("sqn", "SQN", "ratio"),
    ("kelly_criterion", "Kelly criterion", "ratio"),
    ("fees_paid", "Fees paid", "money"),
)

UNDEFINED = "–"


def format_duration(ms: float) -> str:
    """``1d 02:03:04`` style (seconds dropped when 0): ``ms`` milliseconds."""
    total_s = round(ms / 1000.0)
    days, rest = divmod(total_s, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}" + (f":{seconds:02d}" if seconds else "")
    return f"{days}d {clock}" if days else clock


def format_time(ms: int) -> str:
    """ISO-8601 UTC to the minute (to the second when it has seconds)."""
    dt = datetime.fromtimestamp(ms / 1000.0, tz=UTC)
    return dt.strftime("%Y-%m-%d %H:%M:%S" if dt.second else "%Y-%m-%d %H:%M")


def format_value(value: float | int | None, kind: Kind) -> str:
    """One statistic as text; ``None`` (undefined) is "–"."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return UNDEFINED
    if kind == "time":
        return format_time(int(value))
    if kind == "duration":
        return format_duration(value)
    if kind == "pct":
        return f"{value:,.2f} %"
    if kind == "money":
        return f"{value:,.2f}"
    if kind == "count":
        return f"{int(value):,}"
    return f"{value:.3f}"


def statistic_rows(stats: Statistics) -> list[tuple[str, str]]:
    """(label, formatted value) for every row of ``STATISTIC_ROWS``."""
    return [(label, format_value(getattr(stats, name), kind))
            for name, label, kind in STATISTIC_ROWS]
