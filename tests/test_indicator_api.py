"""IndicatorApi: streams opened on demand, seeded from the window, cached by
(name, params), updated once per bar, reported to an observer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pytest
from factories import make_bar

from engine.errors import IndicatorError
from engine.indicators import macd, sma
from engine.indicators.api import IndicatorApi, canonical_params
from engine.market.bar import Bar
from engine.market.window import MarketDataWindow
from engine.observer import IndicatorValue, Params


class Recorder:
    """A RunObserver that keeps everything it is told."""

    def __init__(self) -> None:
        self.opened: list[tuple[str, str, Params, dict[str, list[float]], IndicatorValue]] = []
        self.bars: list[tuple[str, int, list[float | None]]] = []

    def stream_opened(self, symbol: str, name: str, params: Params,
                      history: Mapping[str, npt.NDArray[np.float64]],
                      value: IndicatorValue) -> None:
        self.opened.append((symbol, name, params,
                            {k: list(v) for k, v in history.items()}, value))

    def bar_values(self, symbol: str, b: Bar, values: Sequence[float | None]) -> None:
        self.bars.append((symbol, b.timestamp, list(values)))

    def summary(self) -> Mapping[str, object]:
        return {}

    def close(self) -> None:
        pass


CLOSES = [10.0, 12.0, 11.0, 13.0, 15.0, 14.0, 16.0]


def feed(api: IndicatorApi, window: MarketDataWindow, closes: Sequence[float], start: int = 0
         ) -> None:
    for i, c in enumerate(closes, start):
        b = make_bar(i, c)
        window.push(b)
        api.on_bar(b)


def test_stream_is_seeded_from_the_window_including_the_current_bar() -> None:
    window = MarketDataWindow(100)
    api = IndicatorApi("BTCUSDT", window)
    feed(api, window, CLOSES[:4])
    slot, value = api.open("sma", (3,))
    assert slot == 1 and value == pytest.approx((12.0 + 11.0 + 13.0) / 3)
    feed(api, window, CLOSES[4:], start=4)
    assert api.values == [pytest.approx((15.0 + 14.0 + 16.0) / 3)]


def test_streams_are_cached_by_canonical_params() -> None:
    window = MarketDataWindow(100)
    api = IndicatorApi("BTCUSDT", window)
    feed(api, window, CLOSES)
    a = api.open("rsi", ())
    b = api.open("rsi", (14,))
    c = api.open("rsi", (14.0, None))
    assert a == b == c
    assert api.streams == [("rsi", (14,))]


def test_slots_are_flat_and_multi_output_takes_one_per_output() -> None:
    window = MarketDataWindow(100)
    api = IndicatorApi("BTCUSDT", window)
    closes = [100.0 + np.sin(i) * 5 for i in range(40)]
    feed(api, window, closes[:1])
    assert api.open("sma", (2,))[0] == 1
    assert api.open("macd", (3, 6, 2))[0] == 2
    assert api.open("ema", (4,))[0] == 5
    feed(api, window, closes[1:], start=1)
    x = np.array(closes)
    m = macd(x, 3, 6, 2)
    assert api.values[0] == pytest.approx(sma(x, 2)[-1], rel=1e-12)
    assert api.values[1:4] == pytest.approx([m.macd[-1], m.signal[-1], m.histogram[-1]],
                                            rel=1e-12)


def test_multi_output_in_warm_up_is_all_none() -> None:
    window = MarketDataWindow(100)
    api = IndicatorApi("BTCUSDT", window)
    feed(api, window, CLOSES[:2])
    slot, value = api.open("bollinger", ())
    assert slot == 1
    assert value is None and api.values == [None, None, None]
    feed(api, window, CLOSES[2:], start=2)
    assert api.values == [None, None, None]


def test_observer_sees_openings_with_history_and_every_bar() -> None:
    window = MarketDataWindow(100)
    rec = Recorder()
    api = IndicatorApi("ETHUSDT", window, rec)
    feed(api, window, CLOSES[:3])
    assert rec.bars == []  # nothing open yet: nothing reported
    api.open("sma", (2,))
    api.open("stoch", ())
    symbol, name, params, history, value = rec.opened[0]
    assert (symbol, name, params) == ("ETHUSDT", "sma", (2,))
    assert value == pytest.approx(11.5)
    assert history["close"] == CLOSES[:3]
    assert rec.opened[1][1:3] == ("stoch", (5, 3, 3)) and rec.opened[1][4] is None
    feed(api, window, CLOSES[3:4], start=3)
    # flat values in opening order: sma, then stoch's k and d (still warming up)
    assert rec.bars == [("ETHUSDT", make_bar(3).timestamp, [pytest.approx(12.0), None, None])]
    assert rec.bars[0][2] is not api.values  # a copy


def test_high_and_low_of_the_window() -> None:
    window = MarketDataWindow(3)
    api = IndicatorApi("BTCUSDT", window)
    assert api.high() is None and api.low() is None
    feed(api, window, [10.0, 50.0, 20.0, 30.0])  # capacity 3: the 10 has left
    # make_bar's wicks: high = close + 1, low = close - 0.5
    assert api.high() == 51.0
    assert api.low() == 19.5


@pytest.mark.parametrize("name,args,message", [
    ("smaa", (3,), "did you mean 'sma'"),
    ("sma", (3, 4), "at most 1"),
    ("sma", (0,), "period"),
    ("sma", (2.5,), "integer"),
    ("macd", (12, "26"), "slow"),
])
def test_bad_requests_raise_indicator_error(name: str, args: tuple[object, ...],
                                            message: str) -> None:
    with pytest.raises(IndicatorError, match=message):
        canonical_params(name, args)


def test_canonical_params_fill_defaults_and_make_ints() -> None:
    assert canonical_params("macd", ()) == (12, 26, 9)
    assert canonical_params("macd", (None, 30.0)) == (12, 30, 9)
    assert canonical_params("bollinger", (10, 1)) == (10, 1.0, 2.0)
    assert type(canonical_params("bollinger", (10, 1))[1]) is float
