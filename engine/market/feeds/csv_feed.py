"""Replay of a CSV file: a header CSV or Binance's headerless 12-column klines.

Accepted formats (detected from the first non-blank line):

* **Header CSV** — a header row naming, case-insensitively, a timestamp column
  (`timestamp`, `time`, `open_time`, `date` or `datetime`) and `open`, `high`,
  `low`, `close`, `volume`; optionally `bid`, `ask` (empty cell = none) and
  `symbol`. Other columns are ignored. Timestamps are epoch numbers in s, ms,
  µs or ns (unit by magnitude, see `timestamps`) or ISO-8601 text (UTC when
  no zone is given).
* **Binance kline CSV** (data.binance.vision) — no header, 12 columns: open
  time, open, high, low, close, volume, close time, quote volume, trades,
  taker buy base, taker buy quote, ignore. Open time in ms or µs (spot files
  since 2025 use µs).

Without a `symbol` column a file holds one symbol, named by the caller. With
one, rows are routed by it and rows of symbols not asked for are skipped.

A bad row — wrong number of columns, a non-number, a bar breaking docs/design.md §2,
a duplicate or an older timestamp, a line longer than MAX_LINE_CHARS (read
piecewise, never held whole) — is counted in `stats` with its line number and
reason, and the replay goes on. Bytes that are not UTF-8 become U+FFFD, so such
a row is rejected as a non-number. A missing, unreadable or unrecognisable file,
one that is not a regular file (a directory, a FIFO, a device such as
/dev/zero: reading it could block or never end) or a compressed file is a
FeedError naming the path.
"""

from __future__ import annotations

import csv
import io
import os
import stat
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property, partial
from itertools import chain, islice
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final

from engine.errors import FeedError, MarketDataError
from engine.market.bar import Bar
from engine.market.feeds.base import check_bars, check_symbols
from engine.market.feeds.csv_fast import CHUNK_BYTES, MS_HIGH, MS_LOW, parse_chunk
from engine.market.feeds.stats import FeedStats
from engine.market.feeds.timestamps import number_to_ms, parse_timestamp

TIME_NAMES: Final = ("timestamp", "time", "open_time", "date", "datetime")
PRICE_NAMES: Final = ("open", "high", "low", "close", "volume")
BINANCE_COLUMNS: Final = 12
YIELD_EVERY: Final = 4096
#: The longest line read (characters): a longer one is skipped piecewise and rejected.
MAX_LINE_CHARS: Final = 1 << 20
#: Leading bytes of compressed files -> the format's name.
_BOM: Final = b"\xef\xbb\xbf"  # what encoding="utf-8-sig" skips at the start
_COMPRESSED: Final = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ": "xz",
                      b"PK\x03\x04": "zip", b"\x28\xb5\x2f\xfd": "zstd"}
_FILE_KINDS: Final = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                      (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                      (stat.S_ISSOCK, "a socket"))
EXPECTED: Final = (
    "a header row with timestamp, open, high, low, close, volume columns "
    "(optional bid, ask, symbol) or Binance's headerless 12-column kline rows"
)


@dataclass(frozen=True, slots=True)
class Layout:
    """Where the fields are: column indices, row width and whether there is a header."""

    kind: str  # "header" or "binance"
    width: int
    time: int
    prices: tuple[int, int, int, int, int]  # open, high, low, close, volume
    bid: int | None = None
    ask: int | None = None
    symbol: int | None = None

    @property
    def has_header(self) -> bool:
        return self.kind == "header"


def detect_layout(first_row: list[str], path: Path) -> Layout:
    """Decide the file format from its first non-blank row; FeedError if neither."""
    names = [cell.strip().lower() for cell in first_row]
    if len(names) == BINANCE_COLUMNS and _all_numbers(names[:6]):
        return Layout("binance", BINANCE_COLUMNS, 0, (1, 2, 3, 4, 5))
    time_col = next((names.index(n) for n in TIME_NAMES if n in names), None)
    missing = [n for n in PRICE_NAMES if n not in names]
    if time_col is not None and not missing:

        def col(name: str) -> int | None:
            return names.index(name) if name in names else None

        prices = (
            names.index("open"),
            names.index("high"),
            names.index("low"),
            names.index("close"),
            names.index("volume"),
        )
        return Layout("header", len(names), time_col, prices, col("bid"), col("ask"), col("symbol"))
    if time_col is not None or len(missing) < len(PRICE_NAMES):
        lacking = missing + ([] if time_col is not None else ["timestamp"])
        raise FeedError(
            f"{path}: header row lacks column(s) {', '.join(lacking)}; expected {EXPECTED}"
        )
    raise FeedError(
        f"{path}: unrecognised CSV format (first row {[c[:40] for c in first_row[:6]]!r}); "
        f"expected {EXPECTED}"
    )


def _all_numbers(cells: list[str]) -> bool:
    try:
        for cell in cells:
            float(cell)
    except ValueError:
        return False
    return True


if TYPE_CHECKING:
    from _csv import Reader as _CsvReader


def check_file(path: Path) -> None:
    """FeedError unless ``path`` is a readable regular file that is not compressed.

    Checked before any open: opening a FIFO blocks until a writer comes, and a
    device such as /dev/zero never ends (nor has a line end)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise FeedError(f"cannot read CSV file {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _FILE_KINDS if test(mode)), "not a regular file")
        raise FeedError(f"cannot read CSV file {path}: it is {kind}; --feed csv: needs a "
                        "regular file")
    try:
        with path.open("rb") as raw:
            head = raw.read(6)
    except OSError as exc:
        raise FeedError(f"cannot read CSV file {path}: {exc.strerror or exc}") from None
    for magic, name in _COMPRESSED.items():
        if head.startswith(magic):
            raise FeedError(f"{path}: is {name}-compressed; decompress it first and pass "
                            "the CSV file")


def bounded_lines(
    handle: Iterator[str], on_long: Callable[[int, int], None], limit: int = MAX_LINE_CHARS
) -> Iterator[str]:
    """The lines of ``handle`` (a text file), each read with at most ``limit``
    characters in memory. A longer line is read on piecewise, reported as
    ``on_long(line_number, length)`` and replaced by an empty line (so the csv
    module's line numbers stay those of the file)."""
    read = partial(handle.readline, limit)  # type: ignore[attr-defined]
    number = 0
    for line in iter(read, ""):
        number += 1
        if len(line) < limit or line[-1] in "\r\n":
            yield line
            continue
        length = len(line)
        for piece in iter(read, ""):
            length += len(piece)
            if piece[-1] in "\r\n":
                break
        on_long(number, length)
        yield "\n"

Converter = Callable[[list[str], str], Bar]


def make_converter(lay: Layout) -> Converter:
    """A function turning one row of `lay` into a Bar.

    It raises ValueError for a non-number (the caller diagnoses which field) and
    MarketDataError for a bar breaking docs/design.md §2.
    """
    ti, (oi, hi, li, ci, vi), bi, ai = lay.time, lay.prices, lay.bid, lay.ask
    if lay.kind == "binance":

        def binance(row: list[str], symbol: str) -> Bar:
            return Bar(
                symbol,
                number_to_ms(int(row[0])),
                float(row[1]),
                float(row[2]),
                float(row[3]),
                float(row[4]),
                float(row[5]),
            )

        return binance

    def header(row: list[str], symbol: str) -> Bar:
        bid = float(row[bi]) if bi is not None and row[bi].strip() else None
        ask = float(row[ai]) if ai is not None and row[ai].strip() else None
        cell = row[ti]
        ts = int(cell) if cell.isdigit() else parse_timestamp(cell)
        return Bar(
            symbol,
            ts if MS_LOW <= ts < MS_HIGH else number_to_ms(ts),
            float(row[oi]),
            float(row[hi]),
            float(row[li]),
            float(row[ci]),
            float(row[vi]),
            bid,
            ask,
        )

    return header


def field_problem(lay: Layout, row: list[str]) -> str:
    """Why `row` does not convert: the first field that is not a number."""
    try:
        (
            number_to_ms(int(row[lay.time]))
            if lay.kind == "binance"
            else parse_timestamp(row[lay.time])
        )
    except ValueError as exc:
        return (
            f"field 'timestamp': {exc}"
            if lay.kind != "binance"
            else (f"field 'open_time' = {row[lay.time]!r} is not a whole number")
        )
    fields = dict(zip(PRICE_NAMES, lay.prices, strict=True))
    fields.update({k: v for k, v in (("bid", lay.bid), ("ask", lay.ask)) if v is not None})
    for name, index in fields.items():
        cell = row[index]
        if name in ("bid", "ask") and not cell.strip():
            continue
        try:
            float(cell)
        except ValueError:
            return f"field {name!r} = {cell!r} is not a number"
    return "unconvertible row"  # pragma: no cover - every ValueError source is checked above


def row_timestamp(lay: Layout, row: list[str]) -> int | None:
    """The row's timestamp in ms when it is readable, for reject records."""
    try:
        if lay.kind == "binance":
            return number_to_ms(int(row[lay.time]))
        return parse_timestamp(row[lay.time])
    except ValueError:
        return None


class ChunkedBars(chain[Bar]):
    """The bars of a generator of lists of bars, handed out by ``chain`` in C: no
    Python frame per bar (two generator levels, as before, cost 0.079 µs a bar,
    chain 0.013: best of 30 over 100,000 items in 1,400-item lists, this machine),
    and ``close()`` closes the generator (and its file)."""

    _lists: Generator[list[Bar], None, None]

    @classmethod
    def of(cls, lists: Generator[list[Bar], None, None]) -> ChunkedBars:
        """The bars of ``lists``, in order."""
        bars = cls.from_iterable(lists)
        assert isinstance(bars, cls)  # (chain's classmethod builds the subclass)
        bars._lists = lists
        return bars

    def close(self) -> None:
        """Stop reading (closes the file now rather than when collected)."""
        self._lists.close()


def batched(bars: Iterator[Bar], size: int = YIELD_EVERY) -> Iterator[list[Bar]]:
    """``bars`` in lists of at most ``size``."""
    while batch := list(islice(bars, size)):
        yield batch


class CsvFeed:
    """Replays one CSV file as bars (see the module docstring for the formats).

    `symbol` names the file's symbol (a file without a `symbol` column) or, for a
    file with one, the symbols to keep (a name or several). `bars` limits the
    bars per symbol. The file's format is checked when the feed is created.
    """

    def __init__(
        self, path: str | Path, symbol: str | Iterable[str] = "BTCUSDT", *, bars: int | None = None
    ) -> None:
        self.path = Path(path)
        self.symbols = check_symbols(symbol)
        self.bars = check_bars(bars)
        self.stats = FeedStats()
        self.skipped_other_symbols = 0
        self.layout = self._inspect()
        if self.layout.symbol is None and len(self.symbols) != 1:
            raise FeedError(
                f"{self.path}: has no symbol column, so it holds one symbol, but "
                f"{len(self.symbols)} were asked for ({', '.join(self.symbols)}); "
                "use one file per symbol or add a symbol column"
            )
        self._started = False

    def _inspect(self) -> Layout:
        """The layout, from the first non-blank row; FeedError if missing/unreadable."""
        check_file(self.path)
        try:
            with self.path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
                lines = bounded_lines(handle, self._long_header)
                first = next((row for row in csv.reader(lines) if row), None)
        except OSError as exc:
            raise FeedError(f"cannot read CSV file {self.path}: {exc.strerror or exc}") from None
        except csv.Error as exc:
            raise FeedError(f"{self.path}: unreadable CSV ({exc}); expected {EXPECTED}") from None
        if first is None:
            raise FeedError(f"{self.path}: the file is empty; expected {EXPECTED}")
        return detect_layout(first, self.path)

    def _long_header(self, line: int, length: int) -> None:
        raise FeedError(f"{self.path}:{line}: a line of {length:,} characters before the "
                        f"first row (at most {MAX_LINE_CHARS:,}); expected {EXPECTED}")

    def _long_line(self, line: int, length: int) -> None:
        self.stats.reject("malformed", f"{self.path}:{line}",
                          f"line of {length:,} characters (at most {MAX_LINE_CHARS:,}) skipped")

    @cached_property
    def total(self) -> int | None:
        """Expected bars: the non-blank data rows (an upper bound), capped by `bars`."""
        try:
            with self.path.open("rb") as raw:  # (a longer line counts once per piece)
                rows = sum(1 for line in iter(partial(raw.readline, MAX_LINE_CHARS), b"")
                           if line.strip())
        except OSError:
            return None
        rows -= 1 if self.layout.has_header else 0
        return rows if self.bars is None else min(rows, self.bars * len(self.symbols))

    def iter_bars(self) -> Iterator[Bar]:
        """The accepted bars as a plain (synchronous) iterator — the fast path."""
        if self._started:
            raise FeedError(f"the CSV feed of {self.path} was already iterated; create a new one")
        self._started = True
        return ChunkedBars.of(self._bar_lists())

    def _bar_lists(self) -> Generator[list[Bar], None, None]:
        """The accepted bars, a list at a time (a chunk's, or a batch of the text path's)."""
        remaining: dict[str, int] = dict.fromkeys(self.symbols, self.bars or 0)
        last: dict[str, Bar] = {}
        lay = self.layout
        try:
            if lay.symbol is None and lay.bid is None and lay.ask is None:
                header = self._header_lines()
                with self.path.open("rb") as raw:
                    yield from self._chunks(raw, header, remaining, last)
            else:
                yield from batched(self._text(remaining, last))
        except OSError as exc:
            raise FeedError(f"cannot read CSV file {self.path}: {exc.strerror or exc}") from None

    def _header_lines(self) -> int:
        """The lines up to the end of the header row (0 without a header)."""
        if not self.layout.has_header:
            return 0
        with self.path.open(encoding="utf-8-sig", errors="replace", newline="") as text:
            header = csv.reader(bounded_lines(text, self._long_line))
            next((row for row in header if row), None)  # reads no further than the header row
            return header.line_num

    def _text(self, remaining: dict[str, int], last: dict[str, Bar]) -> Iterator[Bar]:
        """The whole file as text, row by row after the header."""
        with self.path.open(encoding="utf-8-sig", errors="replace", newline="") as text:
            handle = bounded_lines(text, self._long_line)
            line = 0  # lines read before the rows to come
            if self.layout.has_header:
                header = csv.reader(handle)  # reads no further than the header row
                next((row for row in header if row), None)
                line = header.line_num
            yield from self._replay(handle, line, remaining, last)

    def _chunks(
        self, raw: IO[bytes], line: int, remaining: dict[str, int], last: dict[str, Bar]
    ) -> Iterator[list[Bar]]:
        """A one-symbol file after its ``line`` header lines, read as bytes in chunks of
        whole lines: each clean chunk is converted in bulk (csv_fast); a chunk with any
        bad row is replayed row by row, as text exactly as ``_text`` reads it."""
        lay, stats, symbol = self.layout, self.stats, self.symbols[0]
        limited = self.bars is not None
        head = b"".join(raw.readline() for _ in range(line))
        if head.count(b"\r") != head.count(b"\r\n"):  # CR line ends: not text's line count
            yield from batched(self._text(remaining, last))
            return
        if not line and raw.read(len(_BOM)) != _BOM:  # (text's encoding skips a BOM)
            raw.seek(0)
        offset, carry = raw.tell(), b""
        while True:
            block = raw.read(CHUNK_BYTES)
            data = carry + block
            if not data:
                return
            cut = data.rfind(b"\n") + 1 if block else len(data)
            if not cut:  # no line end yet
                if len(data) <= CHUNK_BYTES:
                    carry = data
                    continue
                # a line longer than a chunk: the text path reads it piecewise
                yield from batched(self._rest_as_text(raw, offset, line, remaining, last))
                return
            chunk, carry = data[:cut], data[cut:]
            prev = last.get(symbol)
            bars = parse_chunk(chunk, lay.width, lay.time, lay.prices, symbol,
                               -1 if prev is None else prev[1])
            if bars is None:
                if b'"' in chunk:  # a quoted cell may span lines, past this chunk
                    yield from batched(self._rest_as_text(raw, offset, line, remaining, last))
                    return
                lines = list(self._text_lines(io.BytesIO(chunk), line))
                yield list(self._replay(lines, line, remaining, last))
                line += len(lines)
            else:
                if limited:
                    bars = bars[: remaining[symbol]]
                    remaining[symbol] -= len(bars)
                last[symbol] = bars[-1]
                stats.bars += len(bars)
                yield bars
                line += chunk.count(b"\n")
            if limited and not remaining.get(symbol):
                return  # the bar limit is reached (the replay deletes the entry)
            offset += cut

    def _text_lines(self, raw: IO[bytes], line: int) -> Iterator[str]:
        """The lines of ``raw`` as ``_text`` reads the file (``line`` lines came
        before, for the numbers of over-long lines)."""
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")
        return bounded_lines(text, lambda number, length: self._long_line(line + number, length))

    def _rest_as_text(
        self, raw: IO[bytes], offset: int, line: int, remaining: dict[str, int],
        last: dict[str, Bar],
    ) -> Iterator[Bar]:
        """The file from byte ``offset`` (a line start, past any BOM) on, row by row;
        ``line`` lines came before it."""
        raw.seek(offset)
        return self._replay(self._text_lines(raw, line), line, remaining, last)

    def _replay(
        self, lines: Iterable[str], line: int, remaining: dict[str, int], last: dict[str, Bar]
    ) -> Iterator[Bar]:
        """Row by row through the csv module; ``line`` lines came before ``lines``."""
        reader = csv.reader(lines)
        while True:  # a csv.Error (e.g. a NUL byte) costs one row, then reading resumes
            try:
                yield from self._rows(reader, line, remaining, last)
                return
            except csv.Error as exc:
                where = f"{self.path}:{line + reader.line_num}"
                self.stats.reject("malformed", where, f"unreadable CSV row: {exc}")

    def _rows(
        self, reader: _CsvReader, line: int, remaining: dict[str, int], last: dict[str, Bar]
    ) -> Iterator[Bar]:
        """Rows → bars. `remaining` holds the bars still wanted per symbol (0: no limit)."""
        lay, stats, convert = self.layout, self.stats, make_converter(self.layout)
        width, limited = lay.width, self.bars
        fixed = self.symbols[0] if lay.symbol is None else None
        symbol_col = lay.symbol or 0  # only read when the file has a symbol column
        for row in reader:
            if len(row) != width:
                if row:
                    self._reject_width(line + reader.line_num, row)
                continue
            symbol = fixed or row[symbol_col].strip()
            if symbol not in remaining:
                if not symbol:
                    where = f"{self.path}:{line + reader.line_num}"
                    self.stats.reject("malformed", where, "the symbol cell is empty")
                else:
                    self.skipped_other_symbols += 1
                continue
            try:
                bar = convert(row, symbol)
            except (ValueError, MarketDataError) as exc:
                self._reject_row(line + reader.line_num, row, symbol, exc)
                continue
            prev = last.get(symbol)
            if prev is not None and bar[1] <= prev[1]:
                self._reject_order(line + reader.line_num, bar, prev)
                continue
            last[symbol] = bar
            stats.bars += 1
            yield bar
            if limited:
                remaining[symbol] -= 1
                if not remaining[symbol]:
                    del remaining[symbol]
                    if not remaining:
                        return

    def _reject_width(self, line: int, row: list[str]) -> None:
        reason = f"expected {self.layout.width} columns, got {len(row)}"
        self.stats.reject("malformed", f"{self.path}:{line}", reason)

    def _reject_row(self, line: int, row: list[str], symbol: str, exc: Exception) -> None:
        where, lay = f"{self.path}:{line}", self.layout
        if isinstance(exc, MarketDataError):
            self.stats.reject("invalid", where, str(exc), symbol, row_timestamp(lay, row))
        else:
            self.stats.reject("malformed", where, field_problem(lay, row), symbol)

    def _reject_order(self, line: int, bar: Bar, prev: Bar) -> None:
        """Apply docs/design.md §2 to a bar not newer than `prev`, the last accepted one."""
        where, ts = f"{self.path}:{line}", bar.timestamp
        if ts < prev.timestamp:
            reason = f"timestamp {ts} is older than the last accepted {prev.timestamp}"
            self.stats.reject("out_of_order", where, reason, bar.symbol, ts)
        elif bar == prev:
            reason = f"identical duplicate of the bar at {ts}"
            self.stats.reject("duplicate", where, reason, bar.symbol, ts)
        else:
            reason = f"differs from the bar already accepted at timestamp {ts}"
            self.stats.reject("conflict", where, reason, bar.symbol, ts)

    async def _aiter(self) -> AsyncIterator[Bar]:
        import asyncio  # only for async iteration: a backtest runs without an event loop

        for count, bar in enumerate(self.iter_bars(), 1):
            yield bar
            if count % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # let other tasks (signals, journal) run

    def __aiter__(self) -> AsyncIterator[Bar]:
        return self._aiter()

    async def aclose(self) -> None:
        """Nothing to release between bars; present for the Feed protocol."""
