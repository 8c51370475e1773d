"""open_feed and parse_interval: the command line's feed and interval values."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import ConfigError
from engine.market.feeds import DEFAULT_SIM_BARS, CsvFeed, SimulatedFeed, open_feed, parse_interval


def test_sim_spec_opens_a_simulated_feed_with_limit_seed_and_interval() -> None:
    feed = open_feed("sim", "AAA,BBB", seed=9, bars=5, interval="5m")
    assert isinstance(feed, SimulatedFeed)
    assert feed.total == 10
    bars = list(feed.iter_bars())
    assert bars[2].timestamp - bars[0].timestamp == 300_000
    assert bars == list(
        SimulatedFeed(["AAA", "BBB"], seed=9, bars=5, interval_ms=300_000).iter_bars()
    )


def test_sim_without_a_limit_uses_the_default_bar_count() -> None:
    assert open_feed("sim", ["A"]).total == DEFAULT_SIM_BARS


def test_csv_spec_opens_the_file(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("timestamp,open,high,low,close,volume\n1704067200000,1,1,1,1,1\n")
    feed = open_feed(f"csv:{path}", "ETHUSDT", bars=3)
    assert isinstance(feed, CsvFeed)
    assert [b.symbol for b in feed.iter_bars()] == ["ETHUSDT"]


@pytest.mark.parametrize("spec", ["", "simulated", "csv", "csv:", "csv:  ", "sim:x", "kraken"])
def test_a_bad_spec_names_the_value_and_the_valid_forms(spec: str) -> None:
    with pytest.raises(
        ConfigError, match=f"invalid feed '{spec}': expected sim, csv:PATH or binance"
    ):
        open_feed(spec, "BTCUSDT")


@pytest.mark.parametrize(("symbols", "needle"), [("", "no symbols"), ("A,,A", "listed twice")])
def test_bad_symbol_lists(symbols: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        open_feed("sim", symbols)


def test_a_bad_bar_limit() -> None:
    with pytest.raises(ConfigError, match="invalid bar limit -3"):
        open_feed("sim", "A", bars=-3)


@pytest.mark.parametrize(
    ("text", "ms"),
    [("1s", 1_000), ("1m", 60_000), ("5m", 300_000), ("15m", 900_000), ("1h", 3_600_000),
     ("4h", 14_400_000), ("1d", 86_400_000), ("1w", 604_800_000)],
)  # fmt: skip
def test_intervals(text: str, ms: int) -> None:
    assert parse_interval(text) == ms


@pytest.mark.parametrize("text", ["", "m", "0m", "1x", "1.5h", "-1m", "1M", "m1"])
def test_bad_intervals_say_what_is_valid(text: str) -> None:
    with pytest.raises(ConfigError, match=f"invalid interval '{text}': expected a positive"):
        parse_interval(text)


def test_sim_spec_rejects_a_bad_interval() -> None:
    with pytest.raises(ConfigError, match="invalid interval '2x'"):
        open_feed("sim", "A", interval="2x")
