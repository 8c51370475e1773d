"""The harness can fail: it reports an implementation perturbed at one output.

A harness that cannot fail proves nothing. Here TA-Lib is compared against a
copy of itself with one value changed by 1e-7 relative (or turned into NaN,
or an error raised/swallowed), and the tests assert the harness reports it —
at the right index, with both values, the scaled error and the ULP distance.
Whether a 1e-7 relative change must be reported follows from docs/design.md §3's
bounds, restated here by hand rather than taken from contract.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings

from bridge.crosscheck import Implementation, Job, Run, Talib, crosscheck
from engine.indicators.registry import SPECS
from verify.cases import Case
from verify.harness import assert_agree, assert_all_reject
from verify.strategies import cases

REL = 1e-7
OSCILLATORS = {"rsi", "stoch", "willr", "mfi", "adx"}


@dataclass
class Perturbed:
    """``inner`` with output ``output`` at ``index`` (None: the largest |value|)
    multiplied by ``1 + rel``, or replaced by ``value`` when given."""

    inner: Implementation
    output: int = 0
    index: int | None = None
    rel: float = REL
    value: float | None = None
    label: str = "perturbed"

    def run_all(self, jobs: Sequence[Job]) -> list[Run]:
        """The inner runs, with one value changed per job (if it has any)."""
        out = []
        for run in self.inner.run_all(jobs):
            if run.outputs is None:
                out.append(run)
                continue
            arrays = [o.copy() for o in run.outputs]
            target = arrays[self.output]
            i = self.pick(target)
            if i is not None:
                target[i] = self.value if self.value is not None else target[i] * (1 + self.rel)
            out.append(Run(tuple(arrays), run.error, run.start))
        return out

    def pick(self, target: np.ndarray) -> int | None:
        """The perturbed index for an output array (None when it has no values)."""
        if self.index is not None:
            return self.index
        finite = np.flatnonzero(np.isfinite(target))
        return None if finite.size == 0 else int(finite[np.argmax(np.abs(target[finite]))])


class Raising:
    """An implementation that raises on every job."""

    label = "raising"

    def run_all(self, jobs: Sequence[Job]) -> list[Run]:
        """A ValueError for every job."""
        return [Run(None, ValueError("boom")) for _ in jobs]


class Accepting:
    """An implementation that answers every job with zeros (never rejects)."""

    label = "accepting"

    def run_all(self, jobs: Sequence[Job]) -> list[Run]:
        """One zero array per job."""
        return [Run((np.zeros(job.length),)) for job in jobs]


def _series() -> dict[str, np.ndarray]:
    """300 bars around 1.0 with 5 % moves: every output is large next to the
    inputs, so a 1e-7 relative change exceeds the price-scaled bound."""
    rng = np.random.default_rng(11)
    close = np.exp(np.cumsum(rng.normal(0.0, 0.05, 300)))
    opn = np.concatenate((close[:1], close[:-1]))
    high = np.maximum(opn, close) * (1 + np.abs(rng.normal(0, 0.02, 300)))
    low = np.minimum(opn, close) * (1 - np.abs(rng.normal(0, 0.02, 300)))
    volume = rng.uniform(0.0, 1000.0, 300)
    return {"open": opn, "high": high, "low": low, "close": close, "volume": volume}


def _design_bound(name: str, inputs: Sequence[np.ndarray], a: float, b: float) -> float:
    if name in OSCILLATORS:
        return 1e-7
    if name == "cci":
        return 1e-7 * max(1.0, abs(a), abs(b))
    return 1e-9 * max(1.0, max(float(np.max(np.abs(x))) for x in inputs))


def _talib_outputs(case: Case) -> tuple[np.ndarray, ...]:
    run = Talib().run_all([Job(case.name, case.params, case.data)])[0]
    assert run.outputs is not None
    return run.outputs


def _default_case(name: str) -> Case:
    from engine.indicators.registry import SPECS

    spec = SPECS[name]
    return Case(name, tuple(p.default for p in spec.params), _series())


@pytest.mark.parametrize("name", list(SPECS))
def test_harness_reports_a_1e7_relative_change_at_one_output(name: str) -> None:
    from engine.indicators.registry import SPECS

    spec = SPECS[name]
    case = _default_case(name)
    inputs = [case.data[f] for f in spec.inputs]
    caught = 0
    for k, out_name in enumerate(spec.outputs):
        pert = Perturbed(Talib(), output=k)
        ref = _talib_outputs(case)[k]
        i = pert.pick(ref)
        assert i is not None
        a, b = float(ref[i]), float(ref[i]) * (1 + REL)
        must_catch = abs(a - b) > _design_bound(name, inputs, a, b)
        pair = crosscheck([Job(case.name, case.params, case.data)], [Talib(), pert])[0][0]
        assert pair.ok is not must_catch, f"{name}.{out_name}: |a-b|={abs(a - b)}"
        if must_catch:
            caught += 1
            assert pair.report is not None
            fail = pair.report.first_failure
            assert fail is not None and fail.output == out_name and fail.index == i
            assert (fail.a, fail.b) == (a, b)
            assert fail.scaled_error > 1.0 and fail.ulp > 0
    # CCI's bound is exactly 1e-7 relative, so a 1e-7 change is (just) allowed.
    assert caught == (0 if name == "cci" else len(spec.outputs))


@pytest.mark.parametrize(("rel", "caught"), [(2e-7, True), (0.5e-7, False)])
def test_cci_relative_bound_edges(rel: float, caught: bool) -> None:
    case = _default_case("cci")
    pert = Perturbed(Talib(), rel=rel)
    pair = crosscheck([Job(case.name, case.params, case.data)], [Talib(), pert])[0][0]
    assert pair.ok is not caught


def test_failure_message_names_everything_needed_to_act() -> None:
    case = Case("sma", (5,), _series())
    with pytest.raises(AssertionError) as info:
        assert_agree(case, [Talib(), Perturbed(Talib(), index=123)])
    ref = _talib_outputs(case)[0]
    msg = str(info.value)
    assert "sma(5) on 300 bars" in msg
    assert "talib vs perturbed" in msg
    assert "index 123" in msg
    assert f"a={float(ref[123])!r}" in msg
    assert f"b={float(ref[123]) * (1 + REL)!r}" in msg
    assert "scaled error=" in msg and "ULP distance=" in msg
    assert "input: Case.of('sma', (5,)" in msg


def test_nan_where_a_value_belongs_is_reported() -> None:
    case = Case("ema", (10,), _series())
    with pytest.raises(AssertionError, match="index 50: NaN mask differs"):
        assert_agree(case, [Talib(), Perturbed(Talib(), index=50, value=float("nan"))])
    with pytest.raises(AssertionError, match="index 3: NaN mask differs"):
        assert_agree(case, [Talib(), Perturbed(Talib(), index=3, value=1.0)])


def test_an_implementation_raising_on_valid_input_is_reported() -> None:
    case = Case("rsi", (14,), _series())
    with pytest.raises(AssertionError, match="raising raised ValueError: boom; talib returned"):
        assert_agree(case, [Talib(), Raising()])


def test_an_implementation_accepting_a_bad_input_is_reported() -> None:
    bad = Case("sma", (0,), _series())  # TA-Lib rejects period 0
    assert_all_reject(bad, [Talib(), Raising()])
    with pytest.raises(AssertionError, match="accepted by accepting but rejected by talib"):
        assert_all_reject(bad, [Talib(), Accepting()])
    with pytest.raises(AssertionError, match="accepted by talib"):
        assert_all_reject(Case("sma", (5,), _series()), [Talib(), Raising()])


def test_the_property_itself_finds_a_perturbed_implementation() -> None:
    """The same strategy + assert_agree the agreement properties use fails fast."""

    @settings(
        max_examples=200, derandomize=True, database=None, phases=[Phase.generate],
        suppress_health_check=list(HealthCheck), deadline=None,
    )
    @given(case=cases("wma"))
    def prop(case: Case) -> None:
        assert_agree(case, [Talib(), Perturbed(Talib())])

    with pytest.raises(AssertionError, match="talib vs perturbed: output 'value' index"):
        prop()
