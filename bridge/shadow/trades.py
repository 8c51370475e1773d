"""Shadow mode's trade check, run on the observer's worker thread.

Every symbol's machine gets a book on its own OCaml server process; every bar
and the strategy's result for it are replayed there, a batch of bars in one
BOOK_BARS request. Each bar's reply is compared with what the Python machine
did (``bridge.book.Outcome``: refusals, fills, position, waiting order,
P&L, fees, equity — floats bit for bit); each difference is a mismatch,
journaled like an indicator's (indicator ``"execution"``, output naming what
differed). A fault of the server is counted and loses the books (a book's
state cannot be re-seeded without replaying the whole run); their later bars
are counted as unchecked. Nothing here raises into the run.

Most bars have no fill and no refusal: for those the reply heads are compared
in bulk with the heads the Python machine's values predict (``_differing``);
only the bars that have a fill, a refusal or a differing head are decoded and
compared field by field (``_compare``).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain

import numpy as np
import numpy.typing as npt

from bridge import protocol as p
from bridge.book import Outcome, action_fields, differences, make_outcome, ocaml_outcome
from bridge.shadow.channel import Channel
from bridge.shadow.settings import MismatchSink, RateLimitedLog, ShadowConfig, ShadowStats
from engine.errors import BridgeError
from engine.market.bar import Bar
from engine.run.trades import BarTrading
from engine.state import Costs, Execution

#: ("open", symbol, costs, execution) of book_opened
OpenBook = tuple[str, str, Costs, Execution]
#: (symbol, bar, trading) of bar_traded
TradeEvent = tuple[str, Bar, BarTrading]

_STATE_CODES = {name: i for i, name in enumerate(p.STATES)}
_KIND_CODES = {name: i for i, name in enumerate(p.ORDER_KINDS)}
_SIDE_CODES = {name: i for i, name in enumerate(p.SIDES)}
_HEAD = struct.Struct("<8B3d5dII2d")  # a BOOK_BAR reply head (docs/protocol.md, "Books")
_FLAT = struct.Struct("<8B3d")  # its start: the rest is zeros when flat with no order
_HEAD_SIZE = p.BOOK_HEAD_SIZE
_WORDS = _HEAD_SIZE // 8
#: the head's words of the stop loss, take profit and waiting order level (NaN = none)
_LEVEL_WORDS = [7, 8, 10]
_NAN_BITS = np.frombuffer(struct.pack("<d", math.nan), np.uint64)[0]

#: names of the tuple fields of Outcome's fields, for the journal's "output"
_PARTS = {
    "trades": ("side", "quantity", "entry_price", "exit_price", "fees", "pnl", "reason"),
    "entries": ("side", "price", "quantity"),
    "position": ("side", "quantity", "entry_price", "entry_fee", "stop_loss", "take_profit",
                 "bars_held"),
    "pending": ("kind", "side", "is_entry", "level", "bars_left"),
    "refusal": ("field", "kind"),
}


@dataclass(slots=True)
class _Book:
    symbol: str
    costs: Costs
    execution: Execution
    book_id: int | None = None
    lost: str | None = None


@dataclass(slots=True)
class TradeStats:
    """Counters of the trade check."""

    bars: int = 0  # bars compared
    fills: int = 0  # fills compared (entries and exits)
    closed: int = 0  # closed trades compared
    identical_fills: int = 0  # fills of bars on which both models agree bit for bit
    mismatches: int = 0  # differing values
    unchecked: int = 0  # bars not compared (book lost or never opened)
    max_difference: float = 0.0  # largest |python - ocaml| of a differing float
    mismatched_bars: list[int] = field(default_factory=list)


class TradeCandidate:
    """The OCaml books of every symbol; see the module docstring."""

    def __init__(self, config: ShadowConfig, journal: MismatchSink | None,
                 stats: ShadowStats, logger: RateLimitedLog) -> None:
        self.config = config
        self.journal = journal
        self.stats = stats  # the shadow run's: errors and mismatches count here too
        self.trades = TradeStats()
        self.logger = logger
        self.books: dict[str, _Book] = {}
        self._channel: Channel | None = None
        self._down: str | None = None

    def process(self, items: Sequence[OpenBook | TradeEvent]) -> None:
        """Handle a batch in order: opens are exchanged at once, bars pipelined."""
        if not any(len(item) == 4 for item in items):  # the usual batch: bars only
            self._bars(items)  # type: ignore[arg-type]
            return
        pending: list[TradeEvent] = []
        for item in items:
            if len(item) == 4:
                self._bars(pending)
                pending = []
                _, symbol, costs, execution = item
                self._open(_Book(symbol, costs, execution))
            else:
                pending.append(item)
        self._bars(pending)

    def _connect(self) -> Channel | None:
        if self._channel is None and self._down is None:
            try:
                self._channel = Channel(self.config.executable, self.config.timeout,
                                        self.config.handshake_timeout)
            except BridgeError as exc:
                self.fault(exc)
        return self._channel

    def fault(self, exc: Exception) -> None:
        self.stats.errors += 1
        if self.stats.first_error is None:
            self.stats.first_error = str(exc)
        self.logger.warn("shadow errors", f"shadow: OCaml book error: {exc}")
        self._down = str(exc)
        for book in self.books.values():
            book.lost = book.lost or f"the book server failed: {exc}"
        if self._channel is not None:
            self._channel.kill()
            self._channel = None

    def _open(self, book: _Book) -> None:
        self.books[book.symbol] = book
        channel = self._connect()
        if channel is None:
            book.lost = f"no book server: {self._down}"
            return
        rid = channel.next_id()
        c, e = book.costs, book.execution
        frame = p.encode_book_open(rid, c.fee_bps, c.slippage_bps, e.fill.value, e.cash,
                                   e.leverage)
        try:
            (reply,) = channel.exchange([frame], [(p.Kind.BOOK_OPEN, rid)])
            if reply.kind == p.Kind.ERROR:
                raise BridgeError(f"OCaml refused to open the book of {book.symbol}: "
                                  f"{p.decode_error(reply.body).message}")
            book.book_id = p.decode_book_opened(reply.body)
        except (BridgeError, p.ProtocolError) as exc:
            self.fault(exc)

    def _bars(self, events: Sequence[TradeEvent]) -> None:
        symbols = {ev[0] for ev in events}
        if all(self._live(s) for s in symbols):  # the usual batch: every book is live
            live = events
        else:
            live = [ev for ev in events if self._live(ev[0])]
        self.trades.unchecked += len(events) - len(live)
        channel = self._channel
        if not live or channel is None:
            return
        rid = channel.next_id()
        try:
            frame = p.encode_book_bars(rid, self._records(live))
            (reply,) = channel.exchange([frame], [(p.Kind.BOOK_BARS, rid)])
            if reply.kind == p.Kind.ERROR:
                raise BridgeError(f"OCaml refused a bar of a book: "
                                  f"{p.decode_error(reply.body).message}")
            heads, tails = p.split_book_bars(reply.body, len(live))
            differing = _differing(heads, live, tails)
            self.trades.bars += len(live) - len(differing)  # the rest count in _compare
            for k in differing:
                symbol, bar, trading = live[k]
                body = bytes(heads[k * _HEAD_SIZE : (k + 1) * _HEAD_SIZE]) + bytes(
                    tails.get(k, b""))
                self._compare(symbol, bar, trading, ocaml_outcome(p.decode_book_bar(
                    memoryview(body))))
        except (BridgeError, p.ProtocolError) as exc:
            self.fault(exc)

    def _records(self, live: Sequence[TradeEvent]) -> npt.NDArray[np.void]:
        """The BOOK_RECORDs of ``live`` (byte-identical to encode_book_bar's bodies)."""
        n = len(live)
        records = np.zeros(n, dtype=p.BOOK_RECORD)
        symbols = {ev[0] for ev in live}
        books = self.books
        if len(symbols) == 1:  # the usual batch: one symbol
            records["book"] = books[symbols.pop()].book_id
        else:
            records["book"] = [books[ev[0]].book_id for ev in live]
        stamps = np.fromiter([ev[1].timestamp for ev in live], np.int64, n)
        if n and not 0 <= int(stamps.min()) <= int(stamps.max()) < 1 << 62:
            raise BridgeError("a bar's timestamp is outside [0, 2^62) ms")
        records["ts_lo"] = stamps & 0xFFFFFFFF
        records["ts_hi"] = stamps >> 32
        records["prices"] = np.fromiter(chain.from_iterable([ev[1][2:6] for ev in live]),
                                        np.float64, 4 * n).reshape(n, 4)
        for k, ev in enumerate(live):
            result = ev[2][0]
            if result is not None:  # the bars with an action (or detect_opportunity)
                name, fields = action_fields(result)
                _, code, mask, _, _ = p.book_record(0, 0, name, fields)
                record = records[k]
                record["action"], record["mask"] = code, mask
                record["fields"] = [0.0 if v is None else v for v in fields]
        return records

    def _live(self, symbol: str) -> bool:
        book = self.books.get(symbol)
        return book is not None and book.lost is None and book.book_id is not None

    def _compare(self, symbol: str, bar: Bar, t: BarTrading, ocaml: Outcome) -> None:
        python = make_outcome(bar.timestamp, t.refusal, t.closed, t.state, t.position,
                              t.bars_held, t.order, t.order_expired, t.order_refused,
                              t.realized_pnl, t.fees_paid, t.equity)
        trades = self.trades
        trades.bars += 1
        trades.fills += len(python.entries) + len(python.trades)
        trades.closed += len(python.trades)
        diff = differences(python, ocaml)
        if not diff:
            trades.identical_fills += len(python.entries) + len(python.trades)
            return
        trades.mismatched_bars.append(bar.timestamp)
        for name, a, b in diff:
            for output, x, y in _leaves(name, a, b):
                self._record(symbol, bar.timestamp, output, x, y)

    def _record(self, symbol: str, ts: int, output: str, python: object, ocaml: object) -> None:
        self.trades.mismatches += 1
        self.stats.mismatches += 1
        both = isinstance(python, float) and isinstance(ocaml, float)
        if both and math.isfinite(python - ocaml):  # type: ignore[operator]
            delta = abs(python - ocaml)  # type: ignore[operator]
            self.trades.max_difference = max(self.trades.max_difference, delta)
        numbers = [v if isinstance(v, float) else None for v in (python, ocaml)]
        label = output if both else f"{output}: python {python!r}, ocaml {ocaml!r}"
        if self.journal is not None:
            self.journal.record_mismatch(symbol, ts, "execution", (), label[:500], numbers[0],
                                         numbers[1], None, None)
        self.logger.warn("shadow mismatches", f"shadow TRADE MISMATCH {symbol} @ {ts}: {output} "
                                              f"python={python!r} ocaml={ocaml!r}")

    def close(self) -> None:
        """Stop the server (clean end of input)."""
        if self._channel is not None:
            self._channel.close()
            self._channel = None


def _differing(heads: memoryview, live: Sequence[TradeEvent],
               tails: Mapping[int, memoryview]) -> list[int]:
    """Indices of the bars of ``live`` that need ``_compare``: those with a tail on
    either side (a refusal or a fill: the Python bar is not quiet, or OCaml sent
    fills or refusal texts) and those whose reply head differs from the one the
    Python machine's values predict. A bar left out agrees bit for bit.

    The trade check's fast path (before: one 96-byte reply decoded and compared
    field by field per bar, ≈ 13 µs a bar of the worker's Python; now one
    ``struct.pack_into`` per bar and one numpy comparison per batch).
    """
    n = len(live)
    expected = bytearray(n * _HEAD_SIZE)
    loud: list[int] = []
    pack_flat, pack_held, states = _FLAT.pack_into, _HEAD.pack_into, _STATE_CODES
    kinds, sides, nan = _KIND_CODES, _SIDE_CODES, math.nan
    for k, (_, bar, t) in enumerate(live):
        pos, order = t.position, t.order
        if (t.refusal is not None or t.closed or t.order_refused is not None
                or (pos is not None and pos.entry_time == bar.timestamp)):
            loud.append(k)
            continue
        flags = (1 if t.order_expired else 0) | (0 if pos is None else 4) | \
            (0 if order is None else 8)
        if pos is None and order is None:
            pack_flat(expected, k * _HEAD_SIZE, 0, states[t.state], flags, 0, 0, 0, 0, 0,
                      t.realized_pnl, t.fees_paid, t.equity)
            continue
        if order is None:
            okind = oentry = oside = 0
            level = left = 0.0
        else:
            okind, oentry, oside = kinds[order.kind], int(order.is_entry), sides[order.side]
            # a market order's level is the close (not Python's): compared in _compare
            level = nan if order.price is None else order.price
            left = float(order.bars_left or 0)
        if pos is None:
            qty = price = fee = 0.0
            stop = target = 0.0
            held = side = 0
        else:
            qty, price, fee = pos.quantity, pos.entry_price, pos.entry_fee
            stop = nan if pos.stop_loss is None else pos.stop_loss
            target = nan if pos.take_profit is None else pos.take_profit
            held, side = t.bars_held, sides[pos.side]
        pack_held(expected, k * _HEAD_SIZE, 0, states[t.state], flags, 0, 0, okind, oentry,
                  oside, t.realized_pnl, t.fees_paid, t.equity, qty, price, fee, stop, target,
                  held, side, level, left)
    got = np.frombuffer(heads, np.uint64).reshape(n, _WORDS).copy()
    want = np.frombuffer(expected, np.uint64).reshape(n, _WORDS)
    # "no level" is NaN on both sides (Python's None, OCaml's NaN), whatever its payload
    levels = got[:, _LEVEL_WORDS]
    levels[np.isnan(levels.view(np.float64))] = _NAN_BITS
    got[:, _LEVEL_WORDS] = levels
    differ = set(np.flatnonzero((got != want).any(axis=1)).tolist())
    return sorted(differ.union(loud, tails))


def _leaves(name: str, a: object, b: object) -> list[tuple[str, object, object]]:
    """The differing leaves of two Outcome field values, named like ``trades[0].pnl``."""
    if isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b):
        if a and isinstance(a[0], tuple):  # a tuple of records: trades, entries
            out: list[tuple[str, object, object]] = []
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                out += [(f"{name}[{i}]{label[len(name):]}", u, v)
                        for label, u, v in _leaves(name, x, y)]
            return out
        parts = _PARTS.get(name)
        if parts is not None and len(parts) == len(a):
            return [(f"{name}.{part}", x, y) for part, x, y in zip(parts, a, b, strict=True)
                    if _bits(x) != _bits(y)]
    return [(name, a, b)] if _bits(a) != _bits(b) else []


def _bits(value: object) -> object:
    """A value in a form compared bit for bit (floats by their exact hex form)."""
    if isinstance(value, float):
        return value.hex() if value == value else "nan"
    if isinstance(value, tuple):
        return tuple(_bits(v) for v in value)
    return value
