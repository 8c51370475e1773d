"""Run-level bookkeeping of one symbol's machine: P&L, fees, trades, equity, drawdown."""

from __future__ import annotations

from array import array
from collections.abc import Callable

from engine.state.position import ClosedTrade


class Account:
    """What a report and the journal need about a run's trading.

    * ``realized_pnl``: sum of the closed trades' net P&L (in close order).
    * ``fees_paid``: every fee paid so far, including the entry fee of an
      open position (which is also inside its unrealized P&L).
    * ``equity``: the last marked equity, starting equity + realized +
      unrealized P&L at the bar's close; ``equity_curve`` holds one value per
      marked bar.
    * ``max_drawdown``: the largest fall of marked equity from its running peak
      (the peak starts at the starting equity), in currency;
      ``max_drawdown_pct`` the largest such fall relative to its peak, in
      percent. Equity is marked at bar closes, so intrabar dips are not seen.
    """

    __slots__ = ("_append_mark", "_curve", "_trades", "equity", "fees_paid", "max_drawdown",
                 "max_drawdown_pct", "peak_equity", "realized_pnl", "starting_equity")

    def __init__(self, starting_equity: float) -> None:
        """``starting_equity``: the cash checked by ``Execution`` (its one home)."""
        self.starting_equity = float(starting_equity)
        self.realized_pnl = 0.0
        self.fees_paid = 0.0
        self.equity = self.starting_equity
        self.peak_equity = self.starting_equity
        self.max_drawdown = 0.0
        self.max_drawdown_pct = 0.0
        self._trades: list[ClosedTrade] = []
        self._curve = array("d")
        # bound once: compiled, ``self._curve.append(x)`` looks the method up by name
        # every bar (mypyc does not know array.array)
        self._append_mark: Callable[[float], None] = self._curve.append

    @property
    def trades(self) -> tuple[ClosedTrade, ...]:
        """The closed trades, in close order."""
        return tuple(self._trades)

    @property
    def trade_count(self) -> int:
        """The number of closed trades."""
        return len(self._trades)

    @property
    def equity_curve(self) -> array[float]:
        """Marked equity after each bar (a copy)."""
        return array("d", self._curve)

    @property
    def marks(self) -> array[float]:
        """Marked equity after each bar: the live array, read-only by contract
        (the run's equity journal reads it; a copy per read would cost O(bars))."""
        return self._curve

    def pay_fee(self, fee: float) -> None:
        """Record a fee paid (the entry fee of a new position)."""
        self.fees_paid += fee

    def close_trade(self, trade: ClosedTrade, exit_fee: float) -> None:
        """Record a closed trade whose exit fill paid ``exit_fee``."""
        self.fees_paid += exit_fee
        self.realized_pnl += trade.pnl
        self._trades.append(trade)

    def mark(self, unrealized_pnl: float) -> float:
        """Record the equity after a bar, given the open position's unrealized P&L."""
        equity = self.starting_equity + self.realized_pnl + unrealized_pnl
        self.equity = equity
        self._append_mark(equity)
        peak = self.peak_equity
        if equity >= peak:
            self.peak_equity = equity
        else:
            drawdown = peak - equity
            if drawdown > self.max_drawdown:
                self.max_drawdown = drawdown
            if drawdown / peak * 100.0 > self.max_drawdown_pct:
                self.max_drawdown_pct = drawdown / peak * 100.0
        return equity

    @property
    def wins(self) -> int:
        """Closed trades with pnl > 0."""
        return sum(1 for t in self._trades if t.pnl > 0.0)

    @property
    def losses(self) -> int:
        """Closed trades with pnl < 0."""
        return sum(1 for t in self._trades if t.pnl < 0.0)

    @property
    def win_rate(self) -> float | None:
        """wins / closed trades, or None without trades."""
        return self.wins / len(self._trades) if self._trades else None

    @property
    def gross_profit(self) -> float:
        """Sum of the winning trades' pnl."""
        return sum(t.pnl for t in self._trades if t.pnl > 0.0)

    @property
    def gross_loss(self) -> float:
        """Sum of the losing trades' |pnl|."""
        return -sum(t.pnl for t in self._trades if t.pnl < 0.0)

    @property
    def profit_factor(self) -> float | None:
        """gross profit / gross loss; None without losses (undefined, or infinite)."""
        loss = self.gross_loss
        return self.gross_profit / loss if loss > 0.0 else None
