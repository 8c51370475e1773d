"""States of the strategy state machine and the transitions between them (docs/design.md §4)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

#: How many transitions ``StateMachine.history`` keeps (the most recent ones).
HISTORY_LIMIT = 100


class State(StrEnum):
    """The three states; the value is what Lua sees as ``context.state``."""

    IDLE = "idle"
    ANALYZING = "analyzing"
    IN_POSITION = "in_position"


@dataclass(frozen=True, slots=True)
class Transition:
    """One state change.

    ``reason`` is what caused it: "detect_opportunity", an action name
    ("cancel_analysis", "enter_long", "enter_short", "exit") or an auto-exit
    ("stop_loss", "take_profit"). ``timestamp`` is the bar's timestamp (ms).
    ``note`` is the optional free-text ``reason`` field of the strategy's action.
    """

    from_state: State
    to_state: State
    reason: str
    timestamp: int
    note: str | None = None
