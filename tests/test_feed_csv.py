"""CsvFeed: header and Binance kline formats, every bad-row kind, file errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.errors import FeedError
from engine.market.bar import Bar
from engine.market.feeds import CsvFeed

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z in ms
MIN = 60_000


def write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def read_all(path: Path, symbol: str | list[str] = "BTCUSDT", bars: int | None = None) -> list[Bar]:
    return list(CsvFeed(path, symbol, bars=bars).iter_bars())


def test_header_csv_with_ms_timestamps(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "timestamp,open,high,low,close,volume\n"
        f"{T0},100,110,90,105,12.5\n"
        f"{T0 + MIN},105,106,104,104.5,0\n",
    )
    assert read_all(path) == [
        Bar("BTCUSDT", T0, 100.0, 110.0, 90.0, 105.0, 12.5),
        Bar("BTCUSDT", T0 + MIN, 105.0, 106.0, 104.0, 104.5, 0.0),
    ]


def test_header_is_case_insensitive_in_any_order_with_quotes_and_extra_columns(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "Close,Note,TIME,Open,High,Low,Volume,Bid,Ask\n"
        f'105,"a, b",{T0},100,110,90,1,104.9,105.1\n'
        f"106,,{T0 + MIN},105,107,104,2,,\n",
    )
    assert read_all(path, "ETHUSDT") == [
        Bar("ETHUSDT", T0, 100.0, 110.0, 90.0, 105.0, 1.0, 104.9, 105.1),
        Bar("ETHUSDT", T0 + MIN, 105.0, 107.0, 104.0, 106.0, 2.0),
    ]


@pytest.mark.parametrize(
    ("cell", "expected_ms"),
    [
        ("2024-01-01T00:00:00Z", T0),
        ("2024-01-01 00:01:00", T0 + MIN),  # no zone: UTC
        ("2024-01-01T03:00:00+03:00", T0),
        ("1704067200", T0),  # seconds
        ("1704067200.25", T0 + 250),  # fractional seconds on a whole ms
        ("1704067200000000", T0),  # microseconds
    ],
)
def test_timestamp_forms(tmp_path: Path, cell: str, expected_ms: int) -> None:
    path = write(tmp_path, f"date,open,high,low,close,volume\n{cell},1,1,1,1,1\n")
    assert [b.timestamp for b in read_all(path)] == [expected_ms]


def binance_row(open_time: int, close: str = "105.5", step: int = MIN) -> str:
    return (
        f"{open_time},100.00000000,110.00000000,90.00000000,{close},3.50000000,"
        f"{open_time + step - 1},367.25,42,1.75,183.6,0\n"
    )


def test_binance_kline_csv_in_milliseconds_and_microseconds(tmp_path: Path) -> None:
    ms = write(tmp_path, binance_row(T0) + binance_row(T0 + MIN, "101"), "ms.csv")
    us = write(
        tmp_path, binance_row(T0 * 1000, step=MIN * 1000) + binance_row((T0 + MIN) * 1000), "us.csv"
    )
    expected = [
        Bar("SOLUSDT", T0, 100.0, 110.0, 90.0, 105.5, 3.5),
        Bar("SOLUSDT", T0 + MIN, 100.0, 110.0, 90.0, 101.0, 3.5),
    ]
    assert read_all(ms, "SOLUSDT") == expected
    assert [b.timestamp for b in read_all(us, "SOLUSDT")] == [T0, T0 + MIN]


def test_every_bad_row_kind_is_counted_with_its_line_and_the_replay_goes_on(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "timestamp,open,high,low,close,volume\n"  # 1
        f"{T0},100,110,90,105,1\n"  # 2 good
        f"{T0 + MIN},100,110,90\n"  # 3 wrong column count
        f"{T0 + MIN},100,abc,90,105,1\n"  # 4 not a number
        f"{T0 + MIN},100,80,90,105,1\n"  # 5 high < low
        f"{T0 + MIN},100,110,90,nan,1\n"  # 6 not finite
        f"soon,100,110,90,105,1\n"  # 7 bad timestamp
        f"{T0 + MIN},101,111,91,106,1\n"  # 8 good
        f"{T0 + MIN},101,111,91,106,1\n"  # 9 identical duplicate
        f"{T0 + MIN},101,111,91,107,1\n"  # 10 conflicting duplicate
        f"{T0},100,110,90,105,1\n"  # 11 out of order
        "\n"  # 12 blank: ignored
        f"{T0 + 2 * MIN},102,112,92,107,-1\n"  # 13 negative volume
        f"{T0 + 2 * MIN},102,112,92,107,1\n",  # 14 good
    )
    feed = CsvFeed(path, "BTCUSDT")
    bars = list(feed.iter_bars())
    assert [b.timestamp for b in bars] == [T0, T0 + MIN, T0 + 2 * MIN]
    got = [(r.where.rsplit(":", 1)[1], r.kind) for r in feed.stats.records]
    assert got == [
        ("3", "malformed"),
        ("4", "malformed"),
        ("5", "invalid"),
        ("6", "invalid"),
        ("7", "malformed"),
        ("9", "duplicate"),
        ("10", "conflict"),
        ("11", "out_of_order"),
        ("13", "invalid"),
    ]
    reasons = [r.reason for r in feed.stats.records]
    assert "expected 6 columns, got 4" in reasons[0]
    assert "'high'" in reasons[1] and "'abc'" in reasons[1]
    assert "'low'" in reasons[2] and "90.0" in reasons[2]
    assert "'close'" in reasons[3] and "nan" in reasons[3]
    assert "'soon'" in reasons[4]
    assert "'volume'" in reasons[8]
    stats = feed.stats
    assert (stats.bars, stats.rejected_bars, stats.duplicate_bars) == (3, 8, 1)
    assert (stats.malformed, stats.out_of_order) == (3, 1)
    assert all(r.where.startswith(str(path)) for r in stats.records)


def test_an_overlong_field_costs_one_row(tmp_path: Path) -> None:
    huge = "9" * 200_000  # beyond the csv module's field size limit
    path = write(
        tmp_path,
        f"timestamp,open,high,low,close,volume\n{T0},1,1,1,1,{huge}\n{T0 + MIN},1,1,1,1,1\n",
    )
    feed = CsvFeed(path, "X")
    assert [b.timestamp for b in feed.iter_bars()] == [T0 + MIN]
    assert [(r.kind, r.where) for r in feed.stats.records] == [("malformed", f"{path}:2")]


def test_a_symbol_column_routes_rows_and_filters_symbols(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "symbol,timestamp,open,high,low,close,volume\n"
        f"AAA,{T0},1,1,1,1,1\n"
        f"BBB,{T0},2,2,2,2,2\n"
        f"CCC,{T0},3,3,3,3,3\n"
        f" ,{T0},3,3,3,3,3\n"
        f"AAA,{T0 + MIN},1,1,1,1,1\n"
        f"BBB,{T0 + MIN},2,2,2,2,2\n",
    )
    feed = CsvFeed(path, ["AAA", "BBB"])
    got = [(b.symbol, b.timestamp) for b in feed.iter_bars()]
    assert got == [("AAA", T0), ("BBB", T0), ("AAA", T0 + MIN), ("BBB", T0 + MIN)]
    assert feed.skipped_other_symbols == 1
    assert [(r.kind, r.where, r.reason) for r in feed.stats.records] == [
        ("malformed", f"{path}:5", "the symbol cell is empty")
    ]


def test_the_bar_limit_is_per_symbol_and_total_counts_data_rows(tmp_path: Path) -> None:
    rows = "".join(f"{T0 + i * MIN},1,1,1,1,1\n" for i in range(10))
    path = write(tmp_path, "timestamp,open,high,low,close,volume\n" + rows + "\n")
    assert CsvFeed(path, "X").total == 10
    limited = CsvFeed(path, "X", bars=4)
    assert limited.total == 4
    assert [b.timestamp for b in limited.iter_bars()] == [T0 + i * MIN for i in range(4)]


def test_async_iteration_matches_the_rows(tmp_path: Path) -> None:
    path = write(tmp_path, binance_row(T0) + binance_row(T0 + MIN))

    async def collect() -> list[int]:
        return [bar.timestamp async for bar in CsvFeed(path, "X")]

    assert asyncio.run(collect()) == [T0, T0 + MIN]


def test_missing_file_is_a_feed_error_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(FeedError, match=r"cannot read CSV file .*nope\.csv"):
        CsvFeed(tmp_path / "nope.csv", "X")


def test_a_directory_is_a_feed_error(tmp_path: Path) -> None:
    with pytest.raises(FeedError, match=f"cannot read CSV file {tmp_path}"):
        CsvFeed(tmp_path, "X")


def test_an_empty_file_is_a_feed_error(tmp_path: Path) -> None:
    with pytest.raises(FeedError, match=r"empty\.csv: the file is empty"):
        CsvFeed(write(tmp_path, "\n\n", "empty.csv"), "X")


def test_an_unrecognised_format_says_what_was_expected(tmp_path: Path) -> None:
    path = write(tmp_path, "foo,bar\n1,2\n")
    with pytest.raises(FeedError, match=r"unrecognised CSV format.*timestamp, open, high"):
        CsvFeed(path, "X")


def test_a_header_missing_columns_names_them(tmp_path: Path) -> None:
    path = write(tmp_path, "timestamp,open,high,low,close\n1,2,3,1,2\n")
    with pytest.raises(FeedError, match="lacks column\\(s\\) volume"):
        CsvFeed(path, "X")


def test_several_symbols_need_a_symbol_column(tmp_path: Path) -> None:
    path = write(tmp_path, binance_row(T0))
    with pytest.raises(FeedError, match="one file per symbol or add a symbol column"):
        CsvFeed(path, ["A", "B"])


def test_a_feed_is_iterated_once(tmp_path: Path) -> None:
    feed = CsvFeed(write(tmp_path, binance_row(T0)), "X")
    list(feed.iter_bars())
    with pytest.raises(FeedError, match="already iterated"):
        list(feed.iter_bars())
