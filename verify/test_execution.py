"""The execution models agree: Python's StateMachine and the OCaml book in lockstep
(verify/lockstep.py), bit for bit; and the comparison catches mutant Python models.

The property runs under the session's hypothesis profile (``ci``: derandomized;
``thorough``: 10,000 examples). The meta-tests run the same lockstep machine
over a deliberately broken Python model and require hypothesis to find a
disagreement.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from bridge.client import OcamlIndicators
from engine.market.bar import Bar
from engine.state import ClosedTrade, Costs, Execution, StateMachine
from engine.state.position import ExitReason, Position
from verify.lockstep import lockstep
from verify.profiles import EXAMPLES, profile_name

#: Bars per example (hypothesis' stateful step count).
STEPS = 30


def test_python_and_ocaml_execution_agree(ocaml: OcamlIndicators) -> None:
    examples = EXAMPLES.get(profile_name(), EXAMPLES["dev"])
    run_state_machine_as_test(
        lockstep(ocaml),
        settings=settings(max_examples=examples, stateful_step_count=STEPS),
    )


# --- mutant models: each must be caught -----------------------------------------------


class StopAtClose(StateMachine):
    """A stop that fills at the bar's close instead of its level."""

    __slots__ = ()

    def _stop_out(self, pos: Position, level: float, bar: Bar) -> ClosedTrade:
        return super()._stop_out(pos, bar.close, bar)


class OneFee(StateMachine):
    """A round trip that pays the entry fee only (the exit fill is free)."""

    __slots__ = ()

    def _close(self, pos: Position, price: float, bar: Bar, reason: ExitReason,
               note: str | None) -> ClosedTrade:
        costs = self._costs
        self._costs = Costs(fee_bps=0.0, slippage_bps=costs.slippage_bps)
        try:
            return super()._close(pos, price, bar, reason, note)
        finally:
            self._costs = costs


class ReversedCosts(Costs):
    """Slippage in the position's favour."""

    __slots__ = ()

    def adverse(self, price: float, direction: float) -> float:
        return price * (1.0 - direction * self.slippage_bps / 1e4)


def _reversed_slippage(costs: Costs, execution: Execution) -> StateMachine:
    return StateMachine(costs=ReversedCosts(costs.fee_bps, costs.slippage_bps),
                        execution=execution)


@pytest.mark.parametrize("mutant", [StopAtClose, OneFee, _reversed_slippage],
                         ids=["stop-at-close", "one-fee", "slippage-sign"])
def test_mutant_models_are_caught(ocaml: OcamlIndicators, mutant: Any) -> None:
    machine = lockstep(ocaml, lambda costs, execution: mutant(costs=costs, execution=execution))
    with pytest.raises(AssertionError, match="bar Bar"):
        run_state_machine_as_test(machine, settings=settings(
            max_examples=500, stateful_step_count=STEPS, phases=[Phase.generate],
            derandomize=True, database=None, print_blob=False))
