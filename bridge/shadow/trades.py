"""Shadow mode's trade check, run on the observer's worker thread.

Every symbol's machine gets a book on its own OCaml server process; every bar
and the strategy's result for it are replayed there, one BOOK_BAR per bar, in
one pipelined exchange per batch. Each reply is compared with what the Python
machine did (``bridge.book.Outcome``: refusals, fills, position, waiting order,
P&L, fees, equity — floats bit for bit); each difference is a mismatch,
journaled like an indicator's (indicator ``"execution"``, output naming what
differed). A fault of the server is counted and loses the books (a book's
state cannot be re-seeded without replaying the whole run); their later bars
are counted as unchecked. Nothing here raises into the run.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

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
_HEAD = struct.Struct("<8B")
_THREE = struct.Struct("<3d")
_QUIET_BODY = 96  # a BOOK_BAR reply without fills or refusals

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
        live = [ev for ev in events if self._live(ev[0])]
        self.trades.unchecked += len(events) - len(live)
        channel = self._channel
        if not live or channel is None:
            return
        first = channel.reserve_ids(len(live))
        frames = []
        encode, books, none = p.encode_book_bar, self.books, ("", ())
        for k, (symbol, bar, trading) in enumerate(live):
            result = trading.result
            name, fields = none if result is None else action_fields(result)
            book_id = books[symbol].book_id
            assert book_id is not None
            frames.append(encode((first + k) & 0xFFFFFFFF, book_id, bar[2:6], bar.timestamp,
                                 name, fields))
        try:
            replies = channel.exchange(
                frames, [(p.Kind.BOOK_BAR, (first + k) & 0xFFFFFFFF) for k in range(len(live))])
            for (symbol, bar, trading), reply in zip(live, replies, strict=True):
                if reply.kind == p.Kind.ERROR:
                    raise BridgeError(f"OCaml refused a bar of {symbol}'s book: "
                                      f"{p.decode_error(reply.body).message}")
                if not _quiet_and_equal(reply.body, bar.timestamp, trading):
                    self._compare(symbol, bar, trading,
                                  ocaml_outcome(p.decode_book_bar(reply.body)))
                else:
                    self.trades.bars += 1
        except (BridgeError, p.ProtocolError) as exc:
            self.fault(exc)

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


def _quiet_and_equal(body: memoryview, timestamp: int, t: BarTrading) -> bool:
    """True when the bar had no refusal and no fill on either side and the book's
    reply agrees bit for bit on state, position, waiting order, P&L, fees and
    equity: the cheap check of most bars (anything else takes ``_compare``)."""
    pos, order = t.position, t.order
    if (len(body) != _QUIET_BODY or t.refusal is not None or t.closed
            or t.order_refused is not None or (pos is not None and pos.entry_time == timestamp)):
        return False
    flags = (1 if t.order_expired else 0) | (0 if pos is None else 4) | (0 if order is None else 8)
    head = _HEAD.unpack_from(body, 0)
    if head[:5] != (0, _STATE_CODES[t.state], flags, 0, 0):
        return False
    if body[8:32] != _THREE.pack(t.realized_pnl, t.fees_paid, t.equity):
        return False
    if pos is not None:
        if body[32:56] != _THREE.pack(pos.quantity, pos.entry_price, pos.entry_fee):
            return False
        for offset, level in ((56, pos.stop_loss), (64, pos.take_profit)):
            got = body[offset:offset + 8]
            if level is None:
                if struct.unpack("<d", got)[0] == struct.unpack("<d", got)[0]:  # not NaN
                    return False
            elif got != struct.pack("<d", level):
                return False
        if struct.unpack_from("<II", body, 72) != (t.bars_held, _SIDE_CODES[pos.side]):
            return False
    if order is not None:
        if head[5:8] != (_KIND_CODES[order.kind], int(order.is_entry), _SIDE_CODES[order.side]):
            return False
        level, left = struct.unpack_from("<2d", body, 80)
        if order.price is not None and struct.pack("<d", level) != struct.pack("<d", order.price):
            return False
        if left != (order.bars_left or 0):
            return False
    return True


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
