"""Layer 3, the strategy state machine (docs/design.md §4).

States, the typed context, positions (long and short), the actions a strategy
returns and their strict parsing, waiting orders, sizing, costs and execution
settings, closed trades and the account.
"""

from engine.state.account import Account
from engine.state.actions import (
    ACTION_NAMES,
    Action,
    ActionError,
    CancelAnalysis,
    EnterLong,
    EnterShort,
    Exit,
    UpdateStopLoss,
    UpdateTakeProfit,
    parse_action,
)
from engine.state.context import Context, ContextValue
from engine.state.costs import Costs
from engine.state.execution import Execution, FillMode
from engine.state.machine import StateMachine
from engine.state.orders import Order, OrderKind
from engine.state.position import ClosedTrade, ExitReason, Position, Side
from engine.state.state import HISTORY_LIMIT, State, Transition

__all__ = [
    "ACTION_NAMES",
    "HISTORY_LIMIT",
    "Account",
    "Action",
    "ActionError",
    "CancelAnalysis",
    "ClosedTrade",
    "Context",
    "ContextValue",
    "Costs",
    "EnterLong",
    "EnterShort",
    "Execution",
    "Exit",
    "ExitReason",
    "FillMode",
    "Order",
    "OrderKind",
    "Position",
    "Side",
    "State",
    "StateMachine",
    "Transition",
    "UpdateStopLoss",
    "UpdateTakeProfit",
    "parse_action",
]
