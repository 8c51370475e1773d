"""The vectorised path of CsvFeed: a block of clean rows becomes bars in bulk.

CsvFeed reads a file in blocks of lines. A block takes this path only when the
csv module would split each of its lines into exactly one row at its commas
(no quote, no NUL, no line over the csv field-size limit, every line exactly
``width`` cells). numpy then parses the columns in C — a float with the routine
``float()`` itself uses (``PyOS_string_to_double``), so the values are the
same; numpy accepts a subset of what ``float()`` / ``int()`` accept (no
underscores, ASCII digits only) — and every rule of docs/design.md §2 is checked
on whole columns.

Anything else — a cell numpy does not parse, a bar breaking a rule, a
timestamp not after the previous one — makes ``parse_block`` return None, and
CsvFeed replays that block row by row through the path that diagnoses, counts
and records each bad row with its line number. So this path only ever handles
blocks the row-by-row path would accept whole, and yields the same bars.
"""

from __future__ import annotations

import csv
from itertools import repeat
from typing import Final

import numpy as np
import numpy.typing as npt

from engine.market.bar import Bar, trusted_bars

#: Lines per block: large enough to amortise numpy's per-call cost, small enough
#: to stay in cache (measured best at 512-1024) and that one bad row only sends a
#: few hundred rows down the slow path.
BLOCK_LINES: Final = 512
MS_LOW: Final = 100_000_000_000  # epoch numbers in [MS_LOW, MS_HIGH) are milliseconds
MS_HIGH: Final = 100_000_000_000_000
US_HIGH: Final = 100_000_000_000_000_000


def plain_block(lines: list[str], width: int, *, count_cells: bool = True) -> bool:
    """True when the csv module would read every line as one row of ``width``
    cells split at its commas (so that numpy's tokenizer sees the same cells).
    ``count_cells=False`` leaves the cell count to the caller."""
    text = "".join(lines)
    if '"' in text or "\0" in text:  # quoting, or a row the csv module refuses
        return False
    limit = csv.field_size_limit()
    if len(text) > limit and max(map(len, lines)) > limit:  # a cell the csv module refuses
        return False
    if not count_cells:
        return "," in text  # (not only blank lines, which numpy would warn about)
    return set(map(str.count, lines, repeat(","))) == {width - 1}


PRICE_FIELDS: Final = ("open", "high", "low", "close", "volume")
#: One parsed row: the timestamp as an int, the prices and volume as floats.
ROW: Final = np.dtype([("timestamp", np.int64), ("open", np.float64), ("high", np.float64),
                       ("low", np.float64), ("close", np.float64), ("volume", np.float64)])
#: The file columns of ROW's fields in the usual layout: all six, in ROW's order.
ROW_ORDER: Final = (0, 1, 2, 3, 4, 5)


def parse_block(
    lines: list[str], width: int, time_col: int, price_cols: tuple[int, ...],
    symbol: str, last_ts: int,
) -> list[Bar] | None:
    """The bars of ``lines`` (a block of a file without bid/ask/symbol columns),
    or None when any row needs the row-by-row path. ``last_ts`` is the timestamp
    of the last accepted bar (-1 for none)."""
    cols = (time_col, *price_cols)
    # The usual layout (timestamp,open,high,low,close,volume): without ``usecols``
    # numpy itself refuses a row of any other cell count than ROW's six, so the
    # per-line comma count (≈ 0.1 µs a line) is left to it; a blank line, which
    # numpy skips, shows as a missing row below.
    canonical = width == len(ROW_ORDER) and cols == ROW_ORDER
    if not plain_block(lines, width, count_cells=not canonical):
        return None
    try:  # one pass: each cell parsed by its field's type
        rows = np.loadtxt(lines, ROW, comments=None, delimiter=",", quotechar=None,
                          usecols=None if canonical else cols, ndmin=1)
    except ValueError:  # a cell numpy does not parse (maybe one Python would): replay
        return None
    if len(rows) != len(lines):  # a blank line
        return None
    ts = epoch_to_ms(rows["timestamp"])
    o, h, lo, c, v = (rows[name] for name in PRICE_FIELDS)
    if ts is None or not increasing(ts, last_ts) or not valid_prices(o, h, lo, c, v):
        return None
    return list(trusted_bars(symbol, ts.tolist(), o.tolist(), h.tolist(), lo.tolist(),
                             c.tolist(), v.tolist()))


def epoch_to_ms(stamps: npt.NDArray[np.int64]) -> npt.NDArray[np.int64] | None:
    """``timestamps.number_to_ms`` on a column (unit by magnitude); None when a
    value is negative (such a bar is invalid: the row-by-row path reports it)."""
    if stamps.min() < 0:
        return None
    if stamps.min() >= MS_LOW and stamps.max() < MS_HIGH:
        return stamps  # already milliseconds: the usual case
    return np.select(
        [stamps < MS_LOW, stamps < MS_HIGH, stamps < US_HIGH],
        [stamps * 1000, stamps, stamps // 1000],
        stamps // 1_000_000,
    )


def increasing(ts: npt.NDArray[np.int64], last_ts: int) -> bool:
    """Timestamps strictly increase from ``last_ts`` on (docs/design.md §2)."""
    return bool(ts[0] > last_ts and (ts[1:] > ts[:-1]).all())


def valid_prices(
    o: npt.NDArray[np.float64], h: npt.NDArray[np.float64], lo: npt.NDArray[np.float64],
    c: npt.NDArray[np.float64], v: npt.NDArray[np.float64],
) -> bool:
    """Every row obeys docs/design.md §2: prices finite and > 0, volume finite and
    >= 0, low <= min(open, close) <= max(open, close) <= high (NaN fails)."""
    ok = (lo > 0.0) & (lo <= o) & (o <= h) & (h < np.inf) & (lo <= c) & (c <= h)
    ok &= (v >= 0.0) & (v < np.inf)
    return bool(ok.all())
