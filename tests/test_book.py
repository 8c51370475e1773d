"""The OCaml book over the wire (docs/protocol.md, "Books"): hand-computed fills and
equity, the refusal kinds, and bad requests that get an error reply while the server
lives on."""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from factories import make_bar

from bridge import OcamlIndicators
from bridge import protocol as p
from bridge.book import BookError, OcamlBook, ocaml_outcome, python_bar, refusal_kind
from engine.errors import StrategyError
from engine.market.bar import Bar
from engine.state import Costs, EnterLong, Execution, Exit, StateMachine


@pytest.fixture
def client(ocaml_server: Path) -> Iterator[OcamlIndicators]:
    with OcamlIndicators(ocaml_server) as c:
        yield c


def test_a_round_trip_hand_computed(client: OcamlIndicators) -> None:
    book = OcamlBook(client, Costs(fee_bps=10.0), Execution())
    book.bar(make_bar(0, 100.0), "detect_opportunity")
    reply = book.bar(make_bar(1, 100.0), EnterLong(quantity=2.0, stop_loss=95.0))
    # entry at the close 100: fee 10 * 100 * 2 / 1e4 = 0.2; equity 10000 - 0.2
    assert [(f.entry, f.price, f.quantity) for f in reply.fills] == [(True, 100.0, 2.0)]
    assert reply.state == "in_position" and reply.equity == pytest.approx(9999.8, abs=1e-9)
    # open 90 below the stop 95: out at the open; pnl = -10 * 2 - 0.2 - 0.18 = -20.38
    reply = book.bar(make_bar(2, 90.0, open=90.0), None)
    (fill,) = reply.fills
    assert (fill.entry, fill.price, fill.reason) == (False, 90.0, "stop_loss")
    assert fill.pnl == pytest.approx(-20.38, abs=1e-9)
    assert reply.equity == pytest.approx(9979.62, abs=1e-9) and reply.position is None
    book.close()


def test_refusals_carry_the_python_kind(client: OcamlIndicators) -> None:
    costs, execution = Costs(), Execution(leverage=1.0)
    book, machine = OcamlBook(client, costs, execution), StateMachine(costs, execution=execution)
    bars = [make_bar(i, 100.0) for i in range(4)]
    # exit while idle: state; then a buy limit above the close; then 200 units at 100
    # (cost 20,000 > 10,000 x 1): cash
    for bar, action, kind in [
        (bars[0], Exit(), ("action", "state")),
        (bars[1], "detect_opportunity", None),
        (bars[2], EnterLong(quantity=1.0, price=101.0), ("price", "disguised_market")),
        (bars[3], EnterLong(quantity=200.0), ("quantity", "cash")),
    ]:
        ours = ocaml_outcome(book.bar(bar, action))  # type: ignore[arg-type]
        theirs = python_bar(machine, bar, action)  # type: ignore[arg-type]
        assert ours.refusal == theirs.refusal == kind


def test_refusal_kind_of_an_unknown_problem() -> None:
    assert refusal_kind(StrategyError("something else")) == ("", "unknown")


def _error(client: OcamlIndicators, call: object) -> BookError:
    with pytest.raises(BookError) as info:
        call()  # type: ignore[operator]
    return info.value


def test_bad_bars_are_errors_and_the_server_lives_on(client: OcamlIndicators) -> None:
    book = OcamlBook(client, Costs(), Execution())
    book.bar(make_bar(5, 100.0))
    pid = client.pid
    err = _error(client, lambda: book.bar(make_bar(5, 100.0)))
    assert err.code == p.ErrorCode.OUT_OF_ORDER and "not after" in str(err)
    err = _error(client, lambda: book.bar(make_bar(4, 100.0)))
    assert err.code == p.ErrorCode.OUT_OF_ORDER
    nan_bar = tuple.__new__(Bar, ("X", 6 * 60_000, 100.0, 101.0, 99.0, math.nan, 1.0, None, None))
    err = _error(client, lambda: book.bar(nan_bar))
    assert err.code == p.ErrorCode.NON_FINITE and "close" in str(err)
    upside_down = tuple.__new__(Bar, ("X", 6 * 60_000, 100.0, 99.0, 101.0, 100.0, 1.0, None, None))
    err = _error(client, lambda: book.bar(upside_down))
    assert err.code == p.ErrorCode.INVALID_ARGUMENT
    # the book is unchanged and the same server still serves it
    assert book.bar(make_bar(6, 100.0)).equity == 10_000.0 and client.pid == pid


def test_unknown_book_and_bad_settings(client: OcamlIndicators) -> None:
    book = OcamlBook(client, Costs(), Execution())
    book.close()
    err = _error(client, lambda: book.bar(make_bar(0, 100.0)))
    assert err.code == p.ErrorCode.UNKNOWN_BOOK and str(book.book_id) in str(err)
    err = _error(client, book.close)
    assert err.code == p.ErrorCode.UNKNOWN_BOOK

    def open_raw(fee: float, cash: float, leverage: float | None) -> object:
        return client.request(
            p.Kind.BOOK_OPEN, lambda rid: [p.encode_book_open(rid, fee, 0.0, "close", cash,
                                                              leverage)],
            p.decode_book_opened, lambda e: BookError(e.code, e.message))

    for fee, cash, leverage, word in [(10_000.0, 1.0, None, "fee_bps"),
                                      (1.0, math.nan, None, "cash"),
                                      (1.0, 1.0, 0.5, "leverage")]:
        err = _error(client, lambda: open_raw(fee, cash, leverage))  # noqa: B023
        assert err.code == p.ErrorCode.INVALID_ARGUMENT and word in str(err)
    assert OcamlBook(client, Costs(), Execution()).bar(make_bar(0, 1.0)).state == "idle"


def test_a_field_the_action_does_not_take(client: OcamlIndicators) -> None:
    book = OcamlBook(client, Costs(), Execution())
    frame = bytearray(p.encode_book_bar(1, book.book_id, (1.0, 1.0, 1.0, 1.0), 0, "exit",
                                        [1.0] + [None] * 7))
    err = _error(client, lambda: client.request(
        p.Kind.BOOK_BAR, lambda rid: [bytes(frame[:8]) + struct.pack("<I", rid)
                                      + bytes(frame[12:])],
        p.decode_book_bar, lambda e: BookError(e.code, e.message)))
    assert err.code == p.ErrorCode.INVALID_ARGUMENT and "quantity" in str(err)
