"""The sweep's pure parts: --where, --grid, sampling, segments, exposure, stitching."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import ConfigError
from engine.report.stats import TradeRecord
from engine.strategy.params import ParamValue
from engine.sweep.expr import parse_where
from engine.sweep.grid import Grid, parse_axis, select
from engine.sweep.plan import SweepConfig, Task, objective_field, segments
from engine.sweep.walkforward import Row, folds_report
from engine.sweep.worker import equity_series

DEFAULTS: dict[str, ParamValue] = {"fast": 20, "slow": 50, "quantity": 0.1, "stop_pct": 0.01,
                                   "mode": "long", "trail": False}


# -- --where ------------------------------------------------------------------


@pytest.mark.parametrize(("text", "values", "expected"), [
    ("fast < slow", {"fast": 5, "slow": 10}, True),
    ("fast < slow", {"fast": 10, "slow": 10}, False),
    ("slow - fast >= 10 and not trail", {"fast": 5, "slow": 15, "trail": False}, True),
    ("slow % fast == 0 or fast * 2 > slow", {"fast": 4, "slow": 10}, False),  # 10%4=2, 8<10
    ("-fast + 3 * (slow / 2) == 10", {"fast": 5, "slow": 10}, True),  # -5 + 15
    ("mode == 'long' and stop_pct <= 0.02", {"mode": "long", "stop_pct": 0.01}, True),
    ("false or (trail == true)", {"trail": True}, True),
    ("1.5e1 == 15", {}, True),
])
def test_where_evaluates_the_expression(text: str, values: dict[str, object],
                                        expected: bool) -> None:
    assert parse_where(text).holds(values) is expected  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "message"), [
    ("fast <", "expected a number"),
    ("fast < slow < 3", "chained comparisons"),
    ("(fast < slow", r"expected '\)'"),
    ("fast ; slow", "unexpected ';'"),
    ("__import__('os')", "expected an operator"),
    ("", "empty expression"),
])
def test_where_syntax_errors_name_the_place(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_where(text)


@pytest.mark.parametrize(("text", "message"), [
    ("fast / (slow - slow) > 1", "division by zero"),
    ("mode < 3", "cannot order"),
    ("fast + slow", "not true/false"),
    ("fast and slow", "needs true/false"),
])
def test_where_evaluation_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_where(text).holds({"fast": 5, "slow": 10, "mode": "long"})


def test_where_unknown_name_suggests_the_parameter() -> None:
    with pytest.raises(ConfigError, match=r"'fsat' is not a parameter.*did you mean 'fast'"):
        parse_where("fsat < slow").check_names(DEFAULTS)


# -- --grid ---------------------------------------------------------------------


def test_ranges_and_lists() -> None:
    assert parse_axis("fast=5:20:5").values == ("5", "10", "15", "20")
    assert parse_axis("fast=5:7").values == ("5", "6", "7")  # step 1
    assert parse_axis("fast=5:19:5").values == ("5", "10", "15")  # 20 would pass STOP
    # decimal steps: exactly as written, not 0.30000000000000004
    assert parse_axis("stop_pct=0.1:0.3:0.1").values == ("0.1", "0.2", "0.3")
    assert parse_axis("slow = 20, 50 ,100").values == ("20", "50", "100")


@pytest.mark.parametrize(("item", "message"), [
    ("fast=5:1:1", "empty range, START 5 is above STOP 1"),
    ("fast=a:b", "must be numbers"),
    ("fast=1:5:0", "step must be > 0"),
    ("fast=1:5:-1", "step must be > 0"),
    ("fast=1:2:3:4", "START:STOP or START:STOP:STEP"),
    ("fast=", "no values"),
    ("fast", "expected NAME="),
    ("fast=1,,2", "empty value"),
    ("fast=1,1", "listed twice"),
    ("fast=0:1e9", "more than"),
])
def test_malformed_axes(item: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_axis(item)


def test_empty_grid_is_an_error() -> None:
    with pytest.raises(ConfigError, match="no --grid given"):
        Grid(())


def test_combinations_are_typed_like_the_defaults() -> None:
    grid = Grid((parse_axis("fast=5:10:5"), parse_axis("stop_pct=1,0.5"),
                 parse_axis("trail=true,false")))
    combos = grid.combinations(DEFAULTS)
    assert len(combos) == 2 * 2 * 2
    assert combos[0] == {"fast": 5, "stop_pct": 1.0, "trail": True}  # last axis fastest
    assert combos[1] == {"fast": 5, "stop_pct": 1.0, "trail": False}
    assert type(combos[0]["stop_pct"]) is float and type(combos[0]["fast"]) is int


def test_unknown_parameter_suggests_the_declared_one() -> None:
    with pytest.raises(ConfigError, match=r"unknown parameter 'fsat'.*did you mean 'fast'"):
        Grid((parse_axis("fsat=1,2"),)).combinations(DEFAULTS)


def test_a_value_the_type_refuses() -> None:
    with pytest.raises(ConfigError, match=r"'2\.5' is not an integer"):
        Grid((parse_axis("fast=2:3:0.5"),)).combinations(DEFAULTS)


def test_where_filters_and_random_samples() -> None:
    combos = Grid((parse_axis("fast=5:20:5"), parse_axis("slow=10,15"))).combinations(DEFAULTS)
    # fast in {5,10,15,20} x slow in {10,15}: fast < slow holds for (5,10), (5,15), (10,15)
    kept = select(combos, DEFAULTS, parse_where("fast < slow"), None, 0)
    assert kept == [{"fast": 5, "slow": 10}, {"fast": 5, "slow": 15}, {"fast": 10, "slow": 15}]
    sample = select(combos, DEFAULTS, None, 3, 7)
    assert len(sample) == 3 and all(c in combos for c in sample)
    assert [combos.index(c) for c in sample] == sorted(combos.index(c) for c in sample)
    assert select(combos, DEFAULTS, None, 3, 7) == sample  # same seed, same sample
    assert select(combos, DEFAULTS, None, 100, 7) == combos  # N >= size: all


def test_where_leaving_nothing_is_an_error() -> None:
    combos = Grid((parse_axis("fast=50:60:5"),)).combinations(DEFAULTS)
    with pytest.raises(ConfigError, match="no combination of the 3 in the grid passes"):
        select(combos, DEFAULTS, parse_where("fast < slow"), None, 0)  # slow is 50


# -- plan ---------------------------------------------------------------------------


def test_walk_forward_segments() -> None:
    # 100 bars, 3 folds: 4 segments of 100 // 4 = 25
    assert segments(100, 3) == [(0, 25), (25, 50), (50, 75), (75, 100)]
    # 103 bars: the remainder (3) goes to the last segment
    assert segments(103, 3) == [(0, 25), (25, 50), (50, 75), (75, 103)]
    with pytest.raises(ConfigError, match="segments of 9 bars"):
        segments(19, 1)


def test_objectives() -> None:
    assert objective_field("sharpe") == "sharpe_ratio"
    assert objective_field("max_drawdown_pct") == "max_drawdown_pct"
    with pytest.raises(ConfigError, match="did you mean 'sharpe'"):
        objective_field("sharpee")


def test_sweep_config_checks(tmp_path: object) -> None:
    from pathlib import Path

    from engine.run.config import RunConfig

    run = RunConfig(strategy=Path("strategies/sma_crossover.lua"))
    with pytest.raises(ConfigError, match="--jobs 0"):
        SweepConfig(run=run, grid=("fast=5,10",), jobs=0)
    with pytest.raises(ConfigError, match="--walk-forward"):
        SweepConfig(run=run, grid=("fast=5,10",), walk_forward=0)


def test_exposure_from_trades() -> None:
    # bars open at 0, 60, ..., 540 (10 one-minute bars); a trade entered at bar 2's close
    # and exited at bar 4, another still open since bar 8
    ts = np.arange(10, dtype=np.int64) * 60_000
    trade = TradeRecord("long", 1.0, 120_000, 100.0, 240_000, 101.0, 0.2, 0.8)
    eq = equity_series(ts, [10_000.0] * 10, [trade], 480_000, 60_000)
    assert eq.exposure.tolist() == [False, False, True, True, True, False, False, False,
                                    True, True]
    assert eq.timestamps[0] == 60_000  # marks at bar close


def test_stitched_out_of_sample_equity() -> None:
    def row(seg: int, oos: bool, sharpe: float, equity: list[float] | None) -> Row:
        task = Task(seg * 2 + oos, {"fast": 5}, "BTCUSDT", 0, 2, seg, out_of_sample=oos)
        return Row(task, "finished", None, {"sharpe_ratio": sharpe}, None, equity)

    rows = [row(0, False, 1.0, None), row(1, False, 1.0, None),
            row(1, True, 2.0, [10_100.0, 10_200.0]), row(2, True, 3.0, [9_900.0, 11_000.0])]
    report = folds_report(rows, {"BTCUSDT": 60}, 2, "sharpe_ratio")["BTCUSDT"]
    # fold 1 as is; fold 2 scaled by 10,200 / 10,000 = 1.02: 9,900 * 1.02 = 10,098,
    # 11,000 * 1.02 = 11,220 -> a stitched return of 12.2 %
    assert report["stitched_equity"] == pytest.approx([10_100.0, 10_200.0, 10_098.0, 11_220.0])
    assert report["stitched_return_pct"] == pytest.approx(12.2)
    assert [f["out_of_sample"]["sharpe_ratio"] for f in report["folds"]] == [2.0, 3.0]
