"""The execution models in lockstep: Python's StateMachine and the OCaml book.

``lockstep(client, make_machine)`` builds a hypothesis ``RuleBasedStateMachine``
that opens both models with the same drawn costs and execution settings, then
drives them bar by bar with drawn bars (walks, gaps through levels, limit
moves, flat bars, tiny ranges) and drawn actions (valid and invalid: wrong
state, wrong side, bad prices, every sizing mode, orders with expiry), and
asserts after each bar that both give the same ``Outcome`` — decisions and
refusal kinds, fills, position, waiting order, P&L, fees and equity, floats
bit for bit. ``make_machine`` lets the meta-tests swap in a mutant model.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

from bridge.book import (
    BookAction,
    OcamlBook,
    Outcome,
    differences,
    ocaml_outcome,
    python_bar,
)
from bridge.client import OcamlIndicators
from engine.market.bar import Bar
from engine.run.trades import DETECT
from engine.state import (
    CancelAnalysis,
    Costs,
    EnterLong,
    EnterShort,
    Execution,
    Exit,
    FillMode,
    State,
    StateMachine,
    UpdateStopLoss,
    UpdateTakeProfit,
)

MachineFactory = Callable[[Costs, Execution], StateMachine]
MINUTE = 60_000

_costs = st.builds(
    Costs,
    fee_bps=st.sampled_from([0.0, 10.0, 7.5, 25.0, 1.0 / 3.0]),
    slippage_bps=st.sampled_from([0.0, 5.0, 100.0, 0.1]),
)
_execution = st.builds(
    Execution,
    fill=st.sampled_from(list(FillMode)),
    cash=st.sampled_from([10_000.0, 1_000.0, 123_456.789]),
    leverage=st.sampled_from([None, 1.0, 2.0, 100.0]),
)
#: a relative move of a level from the close: mostly near, sometimes exactly at it
_offset = st.one_of(st.just(0.0), st.floats(-0.03, 0.03), st.floats(-0.08, 0.08),
                    st.sampled_from([-0.5, 0.5, 2.0]))


def _near(draw: st.DrawFn, close: float, sign: float = 0.0) -> float:
    """A level near ``close``; with a ``sign``, mostly on that side of it (a valid stop
    or target), else anywhere."""
    offset = draw(_offset)
    if sign and draw(st.integers(0, 4)):
        offset = sign * abs(offset)
    return close * (1.0 + offset)


@st.composite
def bars(draw: st.DrawFn, last: float) -> tuple[float, float, float, float]:
    """(open, high, low, close) after a close of ``last``."""
    shape = draw(st.sampled_from(["walk", "walk", "gap", "limit", "flat", "tiny"]))
    if shape == "flat":
        return (last, last, last, last)
    if shape == "tiny":
        close = last * (1.0 + draw(st.sampled_from([1e-12, -1e-12, 2.2e-16])))
        return (last, max(last, close), min(last, close), close)
    move = draw(st.floats(-0.03, 0.03))
    op = last * (1.0 + (draw(st.floats(-0.15, 0.15)) if shape == "gap" else 0.0))
    close = op * (1.0 + move)
    if shape == "limit":  # a limit move: the bar opens and closes at its extremes
        return (op, max(op, close), min(op, close), close)
    high = max(op, close) * (1.0 + draw(st.floats(0.0, 0.03)))
    low = min(op, close) * (1.0 - draw(st.floats(0.0, 0.03)))
    return (op, high, low, close)


@st.composite
def entries(draw: st.DrawFn, close: float, long: bool) -> EnterLong | EnterShort:
    """An entry with a drawn sizing mode, order type, levels and expiry (valid or not)."""
    sizing = draw(st.sampled_from(["quantity", "quantity", "size", "size", "risk", "risk",
                                   "none", "two", "bad"]))
    fields: dict[str, float | int | None] = {}
    if sizing in ("quantity", "two"):
        fields["quantity"] = draw(st.sampled_from([0.01, 1.0, 3.7, 1e6, 1e306]))
    if sizing in ("size", "two"):
        fields["size"] = draw(st.sampled_from([0.1, 0.5, 1.0]))
    if sizing == "risk":
        fields["risk"] = draw(st.sampled_from([0.01, 0.2, 1.0]))
    if sizing == "bad":
        name = draw(st.sampled_from(["quantity", "size", "risk"]))
        fields[name] = draw(st.sampled_from([0.0, -1.0, 1.5]))
    kind = draw(st.sampled_from(["market", "market", "limit", "stop", "stop_limit"]))
    if kind in ("limit", "stop_limit"):
        fields["price"] = _near(draw, close)
    if kind in ("stop", "stop_limit"):
        fields["stop_price"] = _near(draw, close)
    d = 1.0 if long else -1.0
    if draw(st.booleans()):
        fields["stop_loss"] = _near(draw, close, -d)
    if draw(st.booleans()):
        fields["take_profit"] = _near(draw, close, d)
    if draw(st.integers(0, 3)) == 0:
        fields["expire_bars"] = draw(st.sampled_from([0, 1, 2, 3, -1]))
    cls = EnterLong if long else EnterShort
    return cls(**fields)  # type: ignore[arg-type]


@st.composite
def actions(draw: st.DrawFn, state: State, close: float) -> BookAction:
    """Mostly an action the state allows, sometimes any (a wrong state), sometimes none."""
    if draw(st.integers(0, 4)) == 0:
        return None
    fitting = {
        State.IDLE: ["detect"],
        State.ANALYZING: ["long", "short", "cancel", "none"],
        State.IN_POSITION: ["exit", "exit_limit", "stop", "target", "none", "none", "none"],
    }[state]
    every = ["detect", "long", "short", "cancel", "exit", "exit_limit", "stop", "target"]
    which = draw(st.sampled_from(fitting if draw(st.integers(0, 5)) else every))
    if which == "none":
        return None
    if which == "detect":
        return DETECT
    if which in ("long", "short"):
        return draw(entries(close, which == "long"))
    if which == "cancel":
        return CancelAnalysis()
    if which == "exit":
        return Exit()
    if which == "exit_limit":
        expire = draw(st.sampled_from([None, 0, 2, -1]))
        return Exit(price=_near(draw, close), expire_bars=expire)
    if which == "stop":
        return UpdateStopLoss(stop_loss=_near(draw, close, draw(st.sampled_from([-1.0, 1.0]))))
    return UpdateTakeProfit(take_profit=_near(draw, close, draw(st.sampled_from([-1.0, 1.0]))))


def _events(outcome: Outcome) -> None:
    """Label what the bar exercised (``--hypothesis-show-statistics`` counts them)."""
    if outcome.refusal is not None:
        event(f"refused: {outcome.refusal[1]}")
    if outcome.order_refused is not None:
        event(f"refused at the fill: {outcome.order_refused}")
    if outcome.order_expired:
        event("order expired")
    for trade in outcome.trades:
        event(f"exit: {trade[6]}")
    if outcome.entries:
        event("entry fill")


def python_machine(costs: Costs, execution: Execution) -> StateMachine:
    """The Python model under test."""
    return StateMachine(costs=costs, execution=execution)


def lockstep(client: OcamlIndicators, make_machine: MachineFactory = python_machine
             ) -> type[RuleBasedStateMachine]:
    """The lockstep state machine class over ``client``'s server (see the module doc)."""

    class Lockstep(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.index = 0
            self.close = 100.0
            self.python: StateMachine | None = None
            self.ocaml: OcamlBook | None = None

        @initialize(costs=_costs, execution=_execution, start=st.sampled_from([100.0, 0.01]))
        def open_books(self, costs: Costs, execution: Execution, start: float) -> None:
            self.python = make_machine(costs, execution)
            self.ocaml = OcamlBook(client, costs, execution)
            self.close = start

        @rule(data=st.data())
        def bar(self, data: st.DataObject) -> None:
            assert self.python is not None and self.ocaml is not None
            op, high, low, close = data.draw(bars(self.close))
            bar = Bar("X", self.index * MINUTE, op, high, low, close, 1.0)
            action = data.draw(actions(self.python.state, close))
            self.index += 1
            self.close = close
            python = python_bar(self.python, bar, action)
            ocaml = ocaml_outcome(self.ocaml.bar(bar, action))
            diff = differences(python, ocaml)
            assert not diff, f"bar {bar} action {action!r}: {diff}"
            assert python.refusal is None or python.refusal[1] != "unknown", python.refusal
            _events(python)

        def teardown(self) -> None:
            if self.ocaml is not None:
                self.ocaml.close()

    return Lockstep
