"""The journal's equity and price series (engine/run/equity.py): one point per bar up to
the limit, then bounded buckets that never drop a drawdown; exposure from trade spans."""

from __future__ import annotations

from array import array
from pathlib import Path

import numpy as np
import pytest
from factories import make_bar
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import ConfigError
from engine.report.downsample import group_extremes, median_int, regular_extremes
from engine.run.equity import EquityLog, exposure_mask, observed_interval
from engine.run.journal import Journal


def feed(log: EquityLog, marks: array[float], equity: list[float], chunk: int = 7) -> None:
    """Mark ``equity`` bar by bar (close 100 + i), advancing every ``chunk`` bars."""
    for i, e in enumerate(equity):
        marks.append(e)
        log.kept.append(make_bar(i, 100.0 + i))
        if (i + 1) % chunk == 0:
            log.advance()
    log.advance(final=True)


def test_one_point_per_bar_with_the_drawdown_from_the_running_peak() -> None:
    marks: array[float] = array("d")
    log = EquityLog("BTCUSDT", marks, 100.0, equity_limit=16, price_limit=16)
    feed(log, marks, [110.0, 99.0, 121.0, 108.9])
    pts = log.equity.points
    assert pts[:, 0].tolist() == [0, 60_000, 120_000, 180_000]  # bar open times
    assert pts[:, 1].tolist() == [110.0, 99.0, 121.0, 108.9]
    # peaks 110, 110, 121, 121: 1 - 99/110 = 0.1, 1 - 108.9/121 = 0.1
    assert pts[:, 2] == pytest.approx([0.0, 0.1, 0.0, 0.1])
    assert log.price.points[:, 4].tolist() == [100.0, 101.0, 102.0, 103.0]  # closes
    assert log.equity.bucket == 1


def test_a_long_series_stays_bounded_and_keeps_every_extreme() -> None:
    rng = np.random.default_rng(3)
    equity = (1_000.0 + np.cumsum(rng.normal(0.0, 1.0, 5_000))).tolist()
    marks: array[float] = array("d")
    log = EquityLog("BTCUSDT", marks, 1_000.0, equity_limit=64, price_limit=32)
    feed(log, marks, equity, chunk=333)
    pts, e = log.equity.points, np.array(equity)
    assert pts.shape[0] <= 64 and log.equity.bucket > 1
    peaks = np.maximum.accumulate(np.concatenate([[1_000.0], e]))[1:]
    dd = 1.0 - e / peaks
    # the deepest drawdown, the lowest and highest equity, the first and last bar: kept
    assert pts[:, 2].max() == dd.max()
    assert pts[:, 1].min() == e.min() and pts[:, 1].max() == e.max()
    assert pts[0, 0] == 0 and pts[-1, 0] == 4_999 * 60_000
    # every kept drawdown is the true one of its bar (from every bar's peak)
    bars = (pts[:, 0] // 60_000).astype(int)
    assert pts[:, 2] == pytest.approx(dd[bars])
    price = log.price.points
    assert price.shape[0] <= 32 and log.price.bucket > 1
    # the price sample is every bucket's first bar (and the last one)
    sampled = (price[:-1, 0] // 60_000).astype(int)
    assert np.all(sampled % log.price.bucket == 0)


def test_a_drawdown_inside_a_bucket_is_not_the_lowest_equity() -> None:
    # peak 200, then 190 (5 %), a new peak 300, then 250 (16.7 %): the deepest drawdown
    # is not the lowest equity of its bucket, and must survive the merge
    equity = [200.0, 190.0, 300.0, 250.0] * 1 + [300.0] * 60
    marks: array[float] = array("d")
    log = EquityLog("BTCUSDT", marks, 200.0, equity_limit=16, price_limit=16)
    feed(log, marks, equity, chunk=64)
    assert log.equity.bucket >= 4
    assert log.equity.points[:, 2].max() == pytest.approx(1.0 - 250.0 / 300.0)


def test_group_extremes_of_merged_buckets_equal_those_of_all_points() -> None:
    rng = np.random.default_rng(5)
    v = rng.normal(size=96)
    bars = np.arange(96)
    fine = group_extremes(bars // 4, lowest=(v,), highest=(v,))
    merged = fine[group_extremes(bars[fine] // 8, lowest=(v[fine],), highest=(v[fine],))]
    direct = group_extremes(bars // 8, lowest=(v,), highest=(v,))
    assert merged.tolist() == direct.tolist()
    # the reshaping version agrees, also when the first bar is mid-bucket
    assert regular_extremes(0, 8, (v,), (v,)).tolist() == direct.tolist()
    part = regular_extremes(5, 8, (v[5:],), (v[5:],))
    assert (5 + part).tolist() == (5 + group_extremes((bars[5:]) // 8, (v[5:],),
                                                      (v[5:],))).tolist()


def test_exposure_covers_each_span_with_both_end_bars() -> None:
    times = np.arange(0, 10, dtype=np.int64) * 60_000
    mask = exposure_mask(times, [(120_000, 180_000), (420_000, None)])
    assert mask.tolist() == [False, False, True, True, False, False, False, True, True, True]
    assert not exposure_mask(times, []).any()


def test_the_interval_is_the_median_bar_spacing() -> None:
    times = np.array([0, 60_000, 120_000, 600_000, 660_000], dtype=np.int64)  # one gap
    assert observed_interval(times, 5) == 60_000
    assert observed_interval(times[:1], 5) == 5
    # an even count: the mean of the middle two (60,000 and 120,000), as np.median
    assert observed_interval(np.array([0, 60_000, 180_000], dtype=np.int64), 5) == 90_000


@given(st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=60))
def test_median_int_is_numpys_median(values: list[int]) -> None:
    """np.median (kept out of runs: it imports numpy.ma) is the oracle."""
    array_ = np.array(values, dtype=np.int64)
    assert median_int(array_) == int(np.median(array_))


def test_a_limit_below_16_is_refused() -> None:
    with pytest.raises(ConfigError, match="limit = 8"):
        EquityLog("BTCUSDT", array("d"), 100.0, equity_limit=8)


def test_the_journal_keeps_the_points_and_replaces_them_after_a_merge(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    journal.start_run(command=["t"], strategy_path="s", strategy_sha256="0", params={},
                      symbols=["BTCUSDT"], feed="t", seed=None, fee_bps=0.0, slippage_bps=0.0)
    marks: array[float] = array("d")
    log = EquityLog("BTCUSDT", marks, 100.0, equity_limit=16, price_limit=16)
    for i in range(40):
        marks.append(100.0 + (i % 5))
        log.kept.append(make_bar(i, 100.0))
        if i % 10 == 9:
            log.advance()
            log.write(journal)
    journal.flush()
    bucket, stored = journal.series(1, "BTCUSDT", "equity", 3)
    assert bucket == log.equity.bucket > 1
    assert stored.tolist() == log.equity.points.tolist()
    journal.close()
