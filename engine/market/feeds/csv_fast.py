"""The vectorised path of CsvFeed: a chunk of clean rows becomes bars in bulk.

CsvFeed reads a one-symbol file as bytes, in chunks of whole lines. A chunk
takes this path only when the csv module would split each of its lines into
exactly ``width`` cells at its commas: no quote, no NUL, no CR but in CRLF line
ends, no blank line, no cell over the csv field-size limit. Its numbers are then
parsed on whole columns with numpy (``decode_columns``) and every rule of
docs/design.md §2 is checked on whole columns.

The numbers: a cell of plain ASCII digits with at most one ``.`` (and at most 19
digits) is read as the integer ``m`` of its digits and the count ``k`` of digits
after the point, eight digits at a time in a uint64 (SWAR). Its float is
``m / 10**k`` computed in x87 extended precision (64-bit significand, where
``m`` and ``10**k``, k <= 19, are exact, so the quotient is correctly rounded to
64 bits) and rounded to float64. That double rounding can only differ from the
correctly rounded ``float(cell)`` when the 64-bit quotient lies exactly halfway
between two float64s (its 11 low bits are 0x400): such a cell — about one in
2,048 — and every cell outside the plain form (exponents, signs, spaces, ``_``,
``inf``) is parsed by ``float()`` itself. Where ``long double`` is not the x87
format, only ``m <= 2**53, k <= 22`` is computed in float64 (exact operands, one
correctly rounded division) and the rest goes to ``float()``. So every float is
the one ``float()`` gives; tests/test_feed_csv_fast.py checks it on random cells.

Anything else — a timestamp that is not plain digits, a cell ``float()``
refuses, a bar breaking a rule, a timestamp not after the previous one — makes
``parse_chunk`` return None, and CsvFeed replays that chunk row by row through
the path that diagnoses, counts and records each bad row with its line number.
So this path only ever handles chunks the row-by-row path would accept whole,
and yields the same bars.

Measured gain over the former blocks of 512 lines through ``np.loadtxt``
(bench/csv_parse.py against the same steps on main, A/B, best of 7 CPU time on a
shared 2-core machine): the parse 2.5 → 1.1 µs a bar; the whole feed with its Bars
2.8 → 1.6 µs a bar, 20.7k → 11.4k instructions a bar (callgrind).
"""

from __future__ import annotations

import csv
import sys
from typing import Final, TypeVar

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from engine.market.bar import Bar, trusted_bars

IntArray = npt.NDArray[np.int64]
_G = TypeVar("_G", bound=np.generic)
FloatArray = npt.NDArray[np.float64]
#: Bytes per chunk (whole lines, ≈ 1,400 rows of the benchmark file). numpy's
#: temporaries then stay below glibc's mmap threshold: at 256 KiB and up each
#: temporary costs fresh pages (12,975 minor faults per 4 MiB at 256 KiB against
#: 246 at 128 KiB) and the parse ran ≈ 1.9 µs a bar against ≈ 1.05 µs at 128 KiB
#: (best of 30, /tmp prototype over the first 4 MiB of bench/data/sma_100k_seed42.csv).
CHUNK_BYTES: Final = 1 << 17
MS_LOW: Final = 100_000_000_000  # epoch numbers in [MS_LOW, MS_HIGH) are milliseconds
MS_HIGH: Final = 100_000_000_000_000
US_HIGH: Final = 100_000_000_000_000_000
#: The longest plain cell parsed in bulk: 19 digits (< 10**19 < 2**64) in a
#: 24-byte window (three uint64 lanes); a longer one goes to ``float()``.
MAX_DIGITS: Final = 19
_WINDOW: Final = 24
_PAD: Final = b"0" * _WINDOW  # so that every window starts inside the buffer
_ZEROS: Final = 0x3030303030303030  # eight ASCII '0'
_HIGH_NIBBLES: Final = np.uint64(0xF0F0F0F0F0F0F0F0)
_SIXES: Final = np.uint64(0x0606060606060606)
_MIDPOINT_BITS: Final = np.uint64(0x7FF)  # the 64 - 53 bits float64 rounds away
_MIDPOINT: Final = np.uint64(0x400)
_MAX_EXACT: Final = 2**53
#: x87 extended ``long double`` (64-bit significand, stored in 16 bytes, little-endian).
EXTENDED: Final = (np.finfo(np.longdouble).nmant == 63 and np.dtype(np.longdouble).itemsize == 16
                   and sys.byteorder == "little")


def _lane_keep(digits: int) -> int:
    """The mask of a uint64 lane keeping its last ``digits`` bytes (little-endian:
    the high bytes), for 0 <= digits (8 and more keep all)."""
    if digits <= 0:
        return 0
    return ((1 << 64) - 1) << (8 * (8 - min(digits, 8))) & ((1 << 64) - 1)


#: Per digit count (0..24): the masks of the window's three lanes keeping its last digits.
_KEEP: Final = np.array([[_lane_keep(n - 16), _lane_keep(n - 8), _lane_keep(n)]
                         for n in range(_WINDOW + 1)], dtype=np.uint64)
_KEEP_FLAT: Final = np.ascontiguousarray(_KEEP.T).ravel()  # lane by lane, for ``take``
_KEEP_ROWS: Final = np.arange(3)[:, None] * (_WINDOW + 1)


def _powers_ld() -> npt.NDArray[np.longdouble]:
    """10**0 .. 10**MAX_DIGITS as long doubles, each by an exact multiplication
    (5**19 < 2**64; ``np.longdouble(10**k)`` may round through a float64)."""
    out = [np.longdouble(1)]
    for _ in range(MAX_DIGITS):
        out.append(out[-1] * np.longdouble(10))
    return np.array(out, dtype=np.longdouble)


_POW_LD: Final = _powers_ld()
_POW_F: Final = np.array([10.0**k for k in range(23)])  # exact: 5**22 < 2**53


def parse_chunk(
    chunk: bytes, width: int, time_col: int, price_cols: tuple[int, ...], symbol: str,
    last_ts: int,
) -> list[Bar] | None:
    """The bars of ``chunk`` (whole lines of a file without bid/ask/symbol columns),
    or None when any row needs the row-by-row path. ``last_ts`` is the timestamp
    of the last accepted bar (-1 for none)."""
    columns = checked_columns(chunk, width, time_col, price_cols, last_ts)
    if columns is None:
        return None
    ts, (o, h, lo, c, v) = columns
    return list(trusted_bars(symbol, ts.tolist(), o.tolist(), h.tolist(), lo.tolist(),
                             c.tolist(), v.tolist()))


def checked_columns(
    chunk: bytes, width: int, time_col: int, price_cols: tuple[int, ...], last_ts: int
) -> tuple[IntArray, FloatArray] | None:
    """``decode_columns`` with the timestamps in ms, when every row is a valid bar
    newer than ``last_ts`` (docs/design.md §2); else None."""
    columns = decode_columns(chunk, width, time_col, price_cols)
    if columns is None:
        return None
    ts = epoch_to_ms(columns[0])
    o, h, lo, c, v = prices = columns[1]
    if ts is None or not increasing(ts, last_ts) or not valid_prices(o, h, lo, c, v):
        return None
    return ts, prices


def decode_columns(
    chunk: bytes, width: int, time_col: int, price_cols: tuple[int, ...]
) -> tuple[IntArray, FloatArray] | None:
    """The timestamp column (the file's numbers, any unit) and the price columns
    (one row per column of ``price_cols``) of ``chunk``, a run of whole lines
    (the last may lack its line end); None unless the csv module would split it
    into rows of ``width`` cells at its commas and every timestamp cell is plain
    digits and every price cell a number ``float()`` reads."""
    if not chunk.endswith(b"\n"):
        chunk += b"\n"
    if b'"' in chunk or b"\0" in chunk:  # quoting, or a row the csv module refuses
        return None
    raw = np.frombuffer(chunk, np.uint8)
    dots = np.flatnonzero(raw == ord("."))
    # The dots are taken out first, so a number's digits are contiguous; each
    # dot's place (before which byte of the dotless buffer) is kept.
    data = _PAD + chunk.replace(b".", b"")
    buf = np.frombuffer(data, np.uint8)
    newline = buf == ord("\n")
    ends = np.flatnonzero((buf == ord(",")) | newline)  # the byte after each cell
    rows = ends.size // width
    line_ends = ends[width - 1::width]
    if ends.size != rows * width or not newline[line_ends].all() or (
            np.count_nonzero(newline) != rows):
        return None  # a line of another width, or a blank line
    lens = np.diff(ends, prepend=_WINDOW - 1) - 1  # bytes per cell (without its dot)
    if b"\r" in chunk:  # CRLF line ends (a CR anywhere else is a line end to the csv module)
        if np.count_nonzero(raw == ord("\r")) != rows or not (buf[line_ends - 1] == 13).all():
            return None
        ends[width - 1::width] -= 1
        lens[width - 1::width] -= 1
    if lens.max() + dots.size > csv.field_size_limit():  # (a bound of a cell with its dots)
        return None  # maybe a cell the csv module refuses
    dot_at = dots + (_WINDOW - np.arange(dots.size))
    dot_cell = np.searchsorted(ends, dot_at)  # (the cell of each dot)
    frac = np.zeros(ends.size, np.intp)
    frac[dot_cell] = ends[dot_cell] - dot_at
    has_dot = np.zeros(ends.size, np.bool_)
    has_dot[dot_cell] = True
    cols = (time_col, *price_cols)
    if dot_cell.size > 1 and not (dot_cell[1:] > dot_cell[:-1]).all():
        many = np.zeros(ends.size, np.bool_)  # cells with two dots or more
        many[dot_cell[1:][dot_cell[1:] == dot_cell[:-1]]] = True
        if many.reshape(rows, width)[:, cols].any():
            return None  # not a number (the row-by-row path says which)
    cells, cell_lens = _by_column(ends, width, cols), _by_column(lens, width, cols)
    numbers, plain = _numbers(data, cells, cell_lens)
    stamps = numbers[:rows]
    if not plain[:rows].all() or has_dot.reshape(rows, width)[:, time_col].any() or (
            stamps >= np.uint64(2**63)).any():
        return None  # not plain digits, or beyond int64: the row-by-row path decides
    cells, cell_lens, plain = cells[rows:], cell_lens[rows:], plain[rows:]
    cell_frac = _by_column(frac, width, cols)[rows:]
    cell_dot = _by_column(has_dot, width, cols)[rows:]
    values, exact = _to_float(numbers[rows:], cell_frac)
    redo = np.flatnonzero(~(plain & exact))
    if redo.size:  # float() of the cell's text, as the row-by-row path reads it (in bulk:
        # without x87 half the benchmark's cells come here, 2.5 µs a bar against 9.9
        # one cell at a time; /tmp check of bench/data/sma_100k_seed42.csv, EXTENDED off)
        ends_at = cells[redo]  # in ``buf``; in ``chunk``: less the pad, plus the dots before
        stops = ends_at - _WINDOW + np.searchsorted(dot_at, ends_at, side="right")
        starts = stops - cell_lens[redo] - cell_dot[redo]
        try:
            values[redo] = [float(chunk[a:b].decode("utf-8", "replace"))
                            for a, b in zip(starts.tolist(), stops.tolist(), strict=True)]
        except ValueError:
            return None
    return stamps.astype(np.int64), values.reshape(len(price_cols), rows)


def _by_column(per_cell: npt.NDArray[_G], width: int, cols: tuple[int, ...]) -> npt.NDArray[_G]:
    """The values of the cells of ``cols``, column after column (rows of ``width``)."""
    return np.ascontiguousarray(per_cell.reshape(-1, width)[:, cols].T).ravel()


def _numbers(
    data: bytes, ends: npt.NDArray[np.intp], lens: npt.NDArray[np.intp]
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.bool_]]:
    """The integers of the digits of the cells ending before ``ends`` (``lens``
    bytes each, dots taken out) in ``data``, and which cells are plain: 1 to
    MAX_DIGITS ASCII digits (the others' integers are meaningless)."""
    # Each cell's last 24 bytes as three uint64 lanes, lane by lane (a (3, cells)
    # view: 1-10 % faster than (cells, 3) with 2-D indexing, and than gathering
    # the lanes with ``take`` from copies of ``data`` at each byte offset mod 8,
    # which is 40 % slower though callgrind counts fewer instructions; best of 30,
    # /tmp A/B over the benchmark file).
    buf = np.frombuffer(data, np.uint8)
    lanes = sliding_window_view(buf, _WINDOW)[ends - _WINDOW].view(np.uint64).T
    count = np.minimum(lens, _WINDOW)
    keep = _KEEP_FLAT.take(count + _KEEP_ROWS)
    zeros = keep & np.uint64(_ZEROS)
    lanes &= keep  # the bytes before the cell become 0
    # a kept byte is a digit when its high nibble is 3 and stays 3 with 6 added
    bad = ((lanes & _HIGH_NIBBLES) ^ zeros) | (((lanes + _SIXES) & _HIGH_NIBBLES) ^ zeros)
    plain = ((bad[0] | bad[1] | bad[2]) == 0) & (lens >= 1) & (lens <= MAX_DIGITS)
    lanes -= zeros  # ASCII -> digit values (no borrow: every kept byte of a plain cell >= '0')
    # eight digits per lane -> its integer, pairs then quads then eights (the first
    # byte, the lowest in little-endian order, is the most significant digit)
    lanes = (lanes * np.uint64(10) + (lanes >> np.uint64(8))) & np.uint64(0x00FF00FF00FF00FF)
    lanes = (lanes * np.uint64(100) + (lanes >> np.uint64(16))) & np.uint64(0x0000FFFF0000FFFF)
    lanes = (lanes * np.uint64(10000) + (lanes >> np.uint64(32))) & np.uint64(0xFFFFFFFF)
    return (lanes[0] * np.uint64(10**16) + lanes[1] * np.uint64(10**8)) + lanes[2], plain


def _to_float(
    mantissas: npt.NDArray[np.uint64], frac: npt.NDArray[np.intp]
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """``mantissas / 10**frac`` as float64, and where that is sure to be the
    correctly rounded value (see the module docstring) for a plain cell's
    mantissa and frac (<= MAX_DIGITS; the others' values are never used)."""
    if EXTENDED:
        quotient = mantissas.astype(np.longdouble) / _POW_LD[np.minimum(frac, MAX_DIGITS)]
        low = quotient.view(np.uint64)[::2] & _MIDPOINT_BITS  # the significand's low bits
        return quotient.astype(np.float64), low != _MIDPOINT
    exact = (mantissas <= np.uint64(_MAX_EXACT)) & (frac < _POW_F.size)
    values = mantissas.astype(np.float64) / _POW_F[np.minimum(frac, _POW_F.size - 1)]
    return values, exact


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
