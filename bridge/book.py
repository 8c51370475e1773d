"""The OCaml execution model (a "book" per symbol) and both models' bars in one form.

``OcamlBook`` drives one book on the OCaml server (docs/protocol.md, "Books")
through an ``OcamlIndicators`` client. ``Outcome`` is what one bar did, in terms
both models can produce: ``ocaml_outcome`` reads a book's reply,
``python_outcome`` a ``StateMachine`` after the bar; ``differences`` lists what
differs, floats compared bit for bit. ``refusal_kind`` classifies a Python
refusal (whose problem is free text) into the book's kinds (``PROBLEMS``).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from bridge import protocol as p
from bridge.client import OcamlIndicators
from engine.errors import BridgeError, StrategyError
from engine.market.bar import Bar
from engine.run.trades import DETECT, StrategyResult
from engine.state import (
    ActionError,
    ClosedTrade,
    Costs,
    Execution,
    Position,
    StateMachine,
)
from engine.state.orders import Order

#: What a strategy returned to the machine: an action, DETECT or nothing.
BookAction = StrategyResult

#: (prefix of ActionError.problem, kind): how a Python refusal reads as a book kind.
_PROBLEM_PREFIXES: tuple[tuple[str, str], ...] = (
    ("is only allowed in state", "state"),
    ("is required", "required"),
    ("must be a finite number > 0", "not_positive"),
    ("must be a finite number", "not_finite"),
    ("must be a whole number", "not_whole"),
    ("cannot be combined", "combined"),
    ("must be a fraction of equity", "fraction"),
    ("needs a stop_loss", "needs_stop"),
    ("applies only to orders", "expiry_market"),
    ("must be >= 0", "expiry_negative"),
    ("is below the close", "disguised_market"),
    ("is above the close", "disguised_market"),
    ("must be > 0 and below", "level"),
    ("must be finite and above", "level"),
    ("leaves no room", "no_room"),
    ("makes the notional", "overflow"),
    ("needs cost", "cash"),
)


class BookError(BridgeError):
    """An error reply to a book request: ``code`` (a ``protocol.ErrorCode``) and message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"OCaml book: {message}")
        self.code = code


def _book_error(error: p.ServerError) -> Exception:
    return BookError(error.code, error.message)


def refusal_kind(exc: StrategyError) -> tuple[str, str]:
    """(field, kind) of a refusal by the Python machine; kind "unknown" if unclassified."""
    if isinstance(exc, ActionError):
        for prefix, kind in _PROBLEM_PREFIXES:
            if exc.problem.startswith(prefix):
                return exc.field, kind
        return exc.field, "unknown"
    if "not allowed in state" in str(exc):  # begin_analysis outside idle
        return "action", "state"
    return "", "unknown"


def action_fields(action: BookAction) -> tuple[str, list[float | None]]:
    """The wire name and BOOK_FIELDS values of ``action`` (None: not given)."""
    if action is None:
        return "", [None] * len(p.BOOK_FIELDS)
    if isinstance(action, str):  # DETECT
        return DETECT, [None] * len(p.BOOK_FIELDS)
    values: list[float | None] = []
    for name in p.BOOK_FIELDS:
        value = getattr(action, name, None)
        values.append(None if value is None else float(value))
    return action.name, values


class OcamlBook:
    """One book on the OCaml server, opened with ``costs`` and ``execution``.

    ``bar`` sends one bar and the action the strategy returned for it. Error
    replies raise ``BookError`` (the server lives on); a server restart loses
    the book (``BridgeError``).
    """

    def __init__(self, client: OcamlIndicators, costs: Costs, execution: Execution) -> None:
        self.client = client
        self.book_id, self.generation = client.request(
            p.Kind.BOOK_OPEN,
            lambda rid: [p.encode_book_open(rid, costs.fee_bps, costs.slippage_bps,
                                            execution.fill.value, execution.cash,
                                            execution.leverage)],
            p.decode_book_opened,
            _book_error,
        )

    def bar(self, bar: Bar, action: BookAction = None) -> p.BookReply:
        """The reply after ``bar`` and ``action`` (None = the strategy returned nothing)."""
        name, fields = action_fields(action)
        prices = (bar.open, bar.high, bar.low, bar.close)
        reply, generation = self.client.request(
            p.Kind.BOOK_BAR,
            lambda rid: [p.encode_book_bar(rid, self.book_id, prices, bar.timestamp, name,
                                           fields)],
            p.decode_book_bar,
            _book_error,
        )
        if generation != self.generation:
            raise BridgeError("the OCaml book was lost when the server restarted")
        return reply

    def close(self) -> None:
        """Close the book on the server."""
        self.client.request(p.Kind.BOOK_CLOSE,
                            lambda rid: [p.encode_book_close(rid, [self.book_id])],
                            lambda body: None, _book_error)


# --- one bar in both models' terms ---------------------------------------------------

#: (side, quantity, entry_price, exit_price, fees, pnl, reason) of a closed trade
Trade = tuple[str, float, float, float, float, float, str]
#: (side, quantity, entry_price, entry_fee, stop_loss, take_profit, bars_held)
Held = tuple[str, float, float, float, float | None, float | None, int]
#: (kind, side, is_entry, level (None for a market order), bars_left (None = GTC))
Waiting = tuple[str, str, bool, float | None, int | None]


@dataclass(frozen=True)
class Outcome:
    """What one bar did, comparable across the two models."""

    refusal: tuple[str, str] | None  # (field, kind) of the refused action
    state: str
    entries: tuple[tuple[str, float, float], ...]  # (side, price, quantity) entry fills
    trades: tuple[Trade, ...]  # trades closed in the bar
    position: Held | None
    pending: Waiting | None
    order_expired: bool
    order_refused: str | None  # the kind of an entry refused at its fill
    realized_pnl: float
    fees_paid: float
    equity: float


def _level(value: float) -> float | None:
    return None if value != value else value


def ocaml_outcome(reply: p.BookReply) -> Outcome:
    """The Outcome of a book's reply."""
    entries = tuple((f.side, f.price, f.quantity) for f in reply.fills if f.entry)
    trades = tuple((f.side, f.quantity, f.entry_price, f.price, f.entry_fee + f.fee, f.pnl,
                    f.reason) for f in reply.fills if not f.entry)
    pos = reply.position
    held = None if pos is None else (
        pos[0], pos[1], pos[2], pos[3], _level(pos[4]), _level(pos[5]), pos[6])
    wait = reply.pending
    pending = None if wait is None else (
        wait[0], wait[1], wait[2], None if wait[0] == "market" else wait[3], wait[4] or None)
    return Outcome(
        None if reply.refusal is None else (reply.refusal.field, reply.refusal.kind),
        reply.state, entries, trades, held, pending, reply.order_expired,
        None if reply.order_refused is None else reply.order_refused.kind,
        reply.realized_pnl, reply.fees_paid, reply.equity,
    )


def python_outcome(
    machine: StateMachine, timestamp: int, refusal: StrategyError | None,
    closed: Sequence[ClosedTrade],
) -> Outcome:
    """The Outcome of the bar at ``timestamp`` that closed ``closed``, read from
    ``machine`` after the bar."""
    pos = machine.position
    account = machine.account
    return make_outcome(
        timestamp, refusal, closed, str(machine.state), pos,
        0 if pos is None else pos.bars_held, machine.pending_order, machine.order_expired,
        machine.order_refused, account.realized_pnl, account.fees_paid, account.equity,
    )


def make_outcome(
    timestamp: int,
    refusal: StrategyError | None,
    closed: Sequence[ClosedTrade],
    state: str,
    pos: Position | None,
    bars_held: int,
    wait: Order | None,
    order_expired: bool,
    order_refused: str | None,
    realized_pnl: float,
    fees_paid: float,
    equity: float,
) -> Outcome:
    """The Outcome of the Python machine's values at the end of the bar at ``timestamp``
    (``bars_held``: the position's, taken then: the machine advances it in place)."""
    entries = [(str(t.side), t.entry_price, t.quantity) for t in closed
               if t.entry_time == timestamp]
    if pos is not None and pos.entry_time == timestamp:
        entries.append((str(pos.side), pos.entry_price, pos.quantity))
    held = None if pos is None else (str(pos.side), pos.quantity, pos.entry_price,
                                      pos.entry_fee, pos.stop_loss, pos.take_profit, bars_held)
    pending = None if wait is None else (str(wait.kind), str(wait.side), wait.is_entry,
                                         wait.price, wait.bars_left)
    return Outcome(
        None if refusal is None else refusal_kind(refusal), state, tuple(entries),
        tuple((str(t.side), t.quantity, t.entry_price, t.exit_price, t.fees, t.pnl,
               str(t.exit_reason)) for t in closed),
        held, pending, order_expired,
        None if order_refused is None else _refused_kind(order_refused),
        realized_pnl, fees_paid, equity,
    )


def _refused_kind(message: str) -> str:
    for prefix, kind in _PROBLEM_PREFIXES:
        if prefix in message:
            return kind
    return "unknown"


def python_bar(machine: StateMachine, bar: Bar, action: BookAction) -> Outcome:
    """Run one bar through the Python machine as the per-bar order of docs/design.md
    §4 does (begin_bar, the action, mark) and return its Outcome."""
    before = machine.account.trade_count
    refusal: StrategyError | None = None
    machine.begin_bar(bar)
    try:
        if isinstance(action, str):  # DETECT
            machine.begin_analysis({}, bar)
        elif action is not None:
            machine.execute(action, bar)
    except StrategyError as exc:
        refusal = exc
    machine.mark(bar)
    closed = machine.account.trades[before:]
    return python_outcome(machine, bar.timestamp, refusal, closed)


def _bits(value: object) -> object:
    """``value`` in a form compared bit for bit (floats by their 8 bytes): the
    definition ``same`` implements faster."""
    if isinstance(value, float):
        return struct.pack("<d", value)
    if isinstance(value, tuple):
        return tuple(_bits(v) for v in value)
    return value


def same(a: object, b: object) -> bool:
    """``_bits(a) == _bits(b)``: equal, floats bit for bit (0.0 is not -0.0, NaNs by
    their payload), without packing every float: ≈ 5× faster on an Outcome (the
    trade check compares the ≈ 6% of bars with a fill this way; cProfile of
    bench/shadow.py's events: 0.33 s of the worker's 0.94 s was ``_bits``)."""
    if isinstance(a, float) or isinstance(b, float):
        if not (isinstance(a, float) and isinstance(b, float)):
            return False
        if a != b or a == 0.0:  # unequal, NaN or a zero: the sign and payload count
            return _PACK(a) == _PACK(b)
        return True
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(map(same, a, b))
    return a == b


_PACK = struct.Struct("<d").pack
_OUTCOME_FIELDS = tuple(Outcome.__dataclass_fields__)


def differences(python: Outcome, ocaml: Outcome) -> list[tuple[str, object, object]]:
    """(what, Python's value, OCaml's) for every field that differs (floats by bits)."""
    out = []
    for name in _OUTCOME_FIELDS:
        a, b = getattr(python, name), getattr(ocaml, name)
        if not same(a, b):
            out.append((name, a, b))
    return out
