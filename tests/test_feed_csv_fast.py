"""CsvFeed's vectorised block path gives exactly what the row-by-row path gives.

The row-by-row path (pinned by tests/test_feed_csv.py) is the reference: each
file is read twice, once as is and once with the block path switched off, and
bars, reject records and counters must be identical — with bad rows of every
kind scattered over block boundaries (tiny blocks), CRLF and CR line ends,
quotes, NUL bytes, blank lines and bar limits.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from engine.market.bar import Bar, trusted_bars
from engine.market.feeds import csv_fast, csv_feed
from engine.market.feeds.csv_feed import CsvFeed

T0 = 1_704_067_200_000
MIN = 60_000
BAD_CELLS = ["abc", "nan", "-1", "inf", "1e400", "1_0", " 7 ", "+3", '"5"', "5\x00", "", "٣"]


def read(path: Path, bars: int | None) -> tuple[list[Bar], list[Any], tuple[int, ...]]:
    feed = CsvFeed(path, "BTCUSDT", bars=bars)
    out = list(feed.iter_bars())
    s = feed.stats
    counts = (s.bars, s.rejected_bars, s.duplicate_bars, s.malformed, s.out_of_order)
    return out, list(s.records), counts


def row(rng: random.Random, ts: int, price: float, binance: bool) -> list[str]:
    close = price * (1 + rng.uniform(-0.01, 0.01))
    high, low = max(price, close) * 1.002, min(price, close) * 0.998
    cells = [str(ts), repr(price), repr(high), repr(low), repr(close), repr(rng.random() * 9)]
    return [*cells, str(ts + MIN - 1), "1", "2", "3", "4", "0"] if binance else cells


def messy_file(rng: random.Random, binance: bool, eol: str) -> str:
    lines = [] if binance else ["timestamp,open,high,low,close,volume"]
    ts = T0
    for _ in range(rng.randint(1, 120)):
        ts += MIN
        stamp = ts - rng.choice([MIN, 0]) if rng.random() < 0.03 else ts  # dup / out of order
        cells = row(rng, stamp, 100.0 + rng.random(), binance)
        if rng.random() < 0.05:
            cells[rng.randrange(len(cells))] = rng.choice(BAD_CELLS)
        if rng.random() < 0.02:
            cells = cells[:-1]
        if rng.random() < 0.02:
            lines.append("")
        lines.append(",".join(cells))
    return eol.join(lines) + rng.choice([eol, ""])


@pytest.mark.parametrize("seed", range(40))
def test_blocks_match_the_row_by_row_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    rng = random.Random(seed)
    path = tmp_path / "data.csv"
    path.write_text(messy_file(rng, rng.random() < 0.5, rng.choice(["\n", "\r\n", "\r"])),
                    newline="")
    bars = rng.choice([None, None, 3, 40])
    monkeypatch.setattr(csv_feed, "BLOCK_LINES", rng.choice([1, 2, 5, 16]))
    got = read(path, bars)
    monkeypatch.setattr(csv_feed, "parse_block", lambda *args: None)  # row by row only
    assert got == read(path, bars)


def test_clean_blocks_take_the_vectorised_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(7)
    lines = ["timestamp,open,high,low,close,volume"]
    lines += [",".join(row(rng, T0 + i * MIN, 100.0 + i, False)) for i in range(50)]
    path = tmp_path / "clean.csv"
    path.write_text("\n".join(lines) + "\n")
    converted: list[int] = []

    def spy(*args: Any) -> list[Bar] | None:
        out = csv_fast.parse_block(*args)
        converted.append(-1 if out is None else len(out))
        return out

    monkeypatch.setattr(csv_feed, "BLOCK_LINES", 16)
    monkeypatch.setattr(csv_feed, "parse_block", spy)
    bars = list(CsvFeed(path, "X").iter_bars())
    assert converted == [16, 16, 16, 2]
    # the same values as float()/int() of the cells, through the validating constructor
    expected = [Bar("X", int(c[0]), *map(float, c[1:])) for c in (s.split(",") for s in lines[1:])]
    assert bars == expected
    assert all(type(b.open) is float and type(b.timestamp) is int for b in bars)


def test_seconds_and_microseconds_columns_convert_like_number_to_ms() -> None:
    lines = [f"{T0 // 1000 + 60 * i},1,1,1,1,1\n" for i in range(3)]
    bars = csv_fast.parse_block(lines, 6, 0, (1, 2, 3, 4, 5), "X", -1)
    assert bars is not None and [b.timestamp for b in bars] == [T0, T0 + MIN, T0 + 2 * MIN]
    us = [f"{(T0 + MIN * i) * 1000},1,1,1,1,1\n" for i in range(2)]
    bars = csv_fast.parse_block(us, 6, 0, (1, 2, 3, 4, 5), "X", -1)
    assert bars is not None and [b.timestamp for b in bars] == [T0, T0 + MIN]


@pytest.mark.parametrize(
    "line",
    [
        f"{T0},1,2,0.5,3,1\n",  # close above high
        f"{T0},1,1,1,1,-0.5\n",  # negative volume
        f"{T0},0,1,0,1,1\n",  # zero price
        f"{T0},1,inf,1,1,1\n",  # not finite
        f"{T0},1,1,1,1,nan\n",  # NaN volume
        "-5,1,1,1,1,1\n",  # negative timestamp
        f"{T0},1,1,1,1\n",  # short row
        f'{T0},1,1,1,1,"1"\n',  # quoted cell
    ],
)
def test_a_block_with_any_bad_row_is_left_to_the_row_by_row_path(line: str) -> None:
    good = f"{T0 - MIN},1,1,1,1,1\n"
    assert csv_fast.parse_block([good, line], 6, 0, (1, 2, 3, 4, 5), "X", -1) is None


def test_a_block_must_start_after_the_last_accepted_bar() -> None:
    lines = [f"{T0},1,1,1,1,1\n"]
    assert csv_fast.parse_block(lines, 6, 0, (1, 2, 3, 4, 5), "X", T0) is None
    assert csv_fast.parse_block(lines, 6, 0, (1, 2, 3, 4, 5), "X", T0 - 1) is not None


def test_trusted_bars_equal_validated_bars() -> None:
    got = list(trusted_bars("X", [T0], [1.0], [2.0], [0.5], [1.5], [3.0]))
    assert got == [Bar("X", T0, 1.0, 2.0, 0.5, 1.5, 3.0)]
    assert type(got[0]) is Bar and got[0].bid is None and got[0].mid_price == 1.5
