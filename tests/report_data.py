"""Synthetic runs for the report's tests and bench/report.py: seeded bars, a fixed
schedule of alternating long/short round trips, and the equity they mark."""

from __future__ import annotations

import numpy as np

from engine.report.model import (
    Bars,
    MismatchRecord,
    ReportModel,
    RunStatus,
    ShadowResult,
    SymbolReport,
)
from engine.report.stats import EquitySeries, TradeRecord, compute_statistics

MINUTE = 60_000
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
FEE = 10e-4  # 10 bps per fill
START = 10_000.0
QTY = 50.0  # units per trade: a notional of about half the equity


def synthetic_bars(n: int, seed: int) -> Bars:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.002, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    wiggle = np.abs(rng.normal(0.0, 0.001, (2, n)))
    return Bars(timestamps=T0 + MINUTE * np.arange(n, dtype=np.int64), open=open_,
                high=np.maximum(open_, close) * (1 + wiggle[0]),
                low=np.minimum(open_, close) * (1 - wiggle[1]), close=close)


def synthetic_symbol(symbol: str, n: int, period: int, seed: int) -> SymbolReport:
    """Round trips entered every ``period`` bars (at a close), held 2..period-2 bars,
    ``QTY`` units, long and short in turn; equity marked at every close."""
    bars = synthetic_bars(n, seed)
    rng = np.random.default_rng(seed + 1)
    c = bars.close
    entries = np.arange(1, n - period, period)
    exits = entries + rng.integers(2, max(period - 1, 3), entries.size)
    direction = np.where(np.arange(entries.size) % 2 == 0, 1.0, -1.0)
    trades = []
    pnl_at = np.zeros(n)
    unreal = np.zeros(n)
    exposure = np.zeros(n, dtype=bool)
    for e, x, d in zip(entries.tolist(), exits.tolist(), direction.tolist(), strict=True):
        fee_in, fee_out = FEE * c[e] * QTY, FEE * c[x] * QTY
        pnl = QTY * d * (c[x] - c[e]) - fee_in - fee_out
        trades.append(TradeRecord(
            "long" if d > 0 else "short", QTY, int(bars.timestamps[e]), float(c[e]),
            int(bars.timestamps[x]), float(c[x]), float(fee_in + fee_out), float(pnl),
            "strategy" if x % 3 else "stop_loss",
            stop_loss=float(c[e] * (1 - 0.02 * d)), take_profit=float(c[e] * (1 + 0.03 * d))))
        pnl_at[x] += pnl
        unreal[e:x] = QTY * d * (c[e:x] - c[e]) - fee_in
        exposure[e:x + 1] = True
    equity = START + np.cumsum(pnl_at) + unreal
    eq = EquitySeries(timestamps=bars.timestamps + MINUTE, equity=equity, exposure=exposure,
                      starting_equity=START, interval_ms=MINUTE)
    return SymbolReport(symbol, bars, eq, trades, compute_statistics(eq, trades, c))


def synthetic_model(n: int, symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT"),
                    period: int = 20, status: RunStatus = RunStatus.FINISHED,
                    mismatches: int = 2) -> ReportModel:
    syms = [synthetic_symbol(s, n, period, seed) for seed, s in enumerate(symbols)]
    listed = [MismatchRecord(symbols[0], T0 + i * MINUTE, "rsi", (14,), "value", 51.25,
                             51.250000001, 2.1e-9, 4) for i in range(mismatches)]
    shadow = ShadowResult(compared=12_345, mismatches=mismatches, mismatch_list=listed)
    return ReportModel(run_id=7, status=status, symbols=syms, shadow=shadow,
                       strategy="strategies/sma_crossover.lua")
