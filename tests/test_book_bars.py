"""BOOK_BARS (docs/protocol.md, "Books"): a batch of bars in one request answers
exactly what one BOOK_BAR per bar answers, and the trade check's bulk comparison
of reply heads (bridge/shadow/trades.py) leaves out only bars that agree."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from factories import make_bar

from bridge import protocol as p
from bridge.book import _bits, action_fields, differences, make_outcome, ocaml_outcome, same
from bridge.shadow.channel import Channel
from bridge.shadow.trades import TradeEvent, _differing
from engine.errors import StrategyError
from engine.market.bar import Bar
from engine.run.trades import DETECT, RecordingMachine, StrategyResult
from engine.state import Costs, EnterLong, EnterShort, Execution, Exit, UpdateStopLoss

COSTS, EXECUTION = Costs(fee_bps=10.0, slippage_bps=2.0), Execution(leverage=2.0)


@pytest.fixture
def channel(ocaml_server: Path) -> Iterator[Channel]:
    c = Channel(ocaml_server, 10.0, 10.0)
    yield c
    c.close()


def _open(channel: Channel) -> int:
    rid = channel.next_id()
    frame = p.encode_book_open(rid, COSTS.fee_bps, COSTS.slippage_bps, EXECUTION.fill.value,
                               EXECUTION.cash, EXECUTION.leverage)
    (reply,) = channel.exchange([frame], [(p.Kind.BOOK_OPEN, rid)])
    return p.decode_book_opened(reply.body)


def _script() -> list[tuple[Bar, StrategyResult]]:
    """Bars and results with fills, stops, refusals and quiet bars between."""
    steps: list[tuple[Bar, StrategyResult]] = []
    price = 100.0
    for i in range(120):
        price *= 1.0 + 0.01 * np.sin(i / 3.0)
        action: StrategyResult = None
        if i % 20 == 1:
            action = DETECT
        elif i % 20 == 2:
            action = EnterLong(quantity=1.0, stop_loss=price * 0.97) if i % 40 == 2 \
                else EnterShort(quantity=1.0, stop_loss=price * 1.03)
        elif i % 20 == 5:
            action = UpdateStopLoss(stop_loss=price * 0.95)  # a short: refused (level)
        elif i % 20 == 9:
            action = Exit()
        elif i % 20 == 12:
            action = Exit()  # idle: refused (state)
        elif i % 20 == 14:
            action = DETECT
        elif i % 20 == 15:
            action = EnterLong(quantity=1e9)  # refused: cash
        steps.append((make_bar(i, price, open=price * 0.999, high=price * 1.01,
                               low=price * 0.98), action))
    return steps


def _body(book_id: int, bar: Bar, result: StrategyResult) -> bytes:
    name, fields = action_fields(result)
    return p.encode_book_bar(0, book_id, bar[2:6], bar.timestamp, name, fields)[12:]


def _book_bars(channel: Channel, bodies: Sequence[bytes]) -> p.ServerError | memoryview:
    rid = channel.next_id()
    records = np.frombuffer(b"".join(bodies), dtype=p.BOOK_RECORD)
    (reply,) = channel.exchange([p.encode_book_bars(rid, records)], [(p.Kind.BOOK_BARS, rid)])
    return p.decode_error(reply.body) if reply.kind == p.Kind.ERROR else reply.body


def test_a_batch_answers_what_one_request_per_bar_answers(channel: Channel) -> None:
    single, batched, other = _open(channel), _open(channel), _open(channel)
    script = _script()
    one_by_one = []
    for bar, result in script:
        rid = channel.next_id()
        frame = p.encode_book_bar(rid, single, bar[2:6], bar.timestamp, *action_fields(result))
        (reply,) = channel.exchange([frame], [(p.Kind.BOOK_BAR, rid)])
        one_by_one.append(bytes(reply.body))
    # two books' bars interleaved in one request: each book only sees its own
    bodies = [b for bar, result in script
              for b in (_body(batched, bar, result), _body(other, bar, None))]
    body = _book_bars(channel, bodies)
    assert isinstance(body, memoryview)
    heads, tails = p.split_book_bars(body, len(bodies))
    size = p.BOOK_HEAD_SIZE
    replies = [bytes(heads[k * size : (k + 1) * size]) + bytes(tails.get(k, b""))
               for k in range(0, len(bodies), 2)]
    assert replies == one_by_one
    decoded = [p.decode_book_bar(memoryview(r)) for r in one_by_one]
    assert sum(len(r.fills) for r in decoded) >= 6 and sum(r.refusal is not None
                                                          for r in decoded) >= 6
    assert all(not p.decode_book_bar(memoryview(bytes(heads[k * size : (k + 1) * size]) + bytes(
        tails.get(k, b"")))).fills for k in range(1, len(bodies), 2))


def test_a_bad_bar_fails_the_batch_from_there_on(channel: Channel) -> None:
    book = _open(channel)
    bars = [make_bar(i, 100.0) for i in range(4)]
    error = _book_bars(channel, [_body(book, bars[0], None), _body(book, bars[1], DETECT),
                                 _body(book, bars[1], None), _body(book, bars[3], None)])
    assert isinstance(error, p.ServerError)
    assert error.code == p.ErrorCode.OUT_OF_ORDER and "bar 2 of 4" in error.message
    # bars 0 and 1 were applied (the book is analyzing), bar 3 was not
    body = _book_bars(channel, [_body(book, bars[2], None)])
    assert isinstance(body, memoryview)
    heads, tails = p.split_book_bars(body, 1)
    assert p.decode_book_bar(heads).state == "analyzing" and not tails


def _python(script: Sequence[tuple[Bar, StrategyResult]]) -> list[TradeEvent]:
    """The script through a RecordingMachine as the runner drives it."""
    machine = RecordingMachine(COSTS, EXECUTION)
    events: list[TradeEvent] = []
    for bar, result in script:
        exit_trade = machine.begin_bar(bar) if machine.busy else None
        step_trade = None
        try:
            if result == DETECT:
                machine.begin_analysis({}, bar)
            elif result is not None:
                step_trade = machine.execute(result, bar)  # type: ignore[arg-type]
        except StrategyError:
            pass
        equity = machine.mark(bar)
        events.append(("BTCUSDT", bar, machine.trading(exit_trade, step_trade, equity)))
    return events


def test_the_bars_left_out_of_the_bulk_check_agree_field_by_field(channel: Channel) -> None:
    book = _open(channel)
    script = _script()
    events = _python(script)
    body = _book_bars(channel, [_body(book, bar, result) for bar, result in script])
    assert isinstance(body, memoryview)
    heads, tails = p.split_book_bars(body, len(script))
    differing = set(_differing(heads, events, tails))
    size = p.BOOK_HEAD_SIZE
    for k, (_, bar, t) in enumerate(events):
        ocaml = ocaml_outcome(p.decode_book_bar(memoryview(
            bytes(heads[k * size : (k + 1) * size]) + bytes(tails.get(k, b"")))))
        python = make_outcome(bar.timestamp, t.refusal, t.closed, t.state, t.position,
                              t.bars_held, t.order, t.order_expired, t.order_refused,
                              t.realized_pnl, t.fees_paid, t.equity)
        assert differences(python, ocaml) == []  # the two models agree on this script
        if k not in differing:  # the bulk check's word: a quiet bar, bit for bit equal
            assert not (t.refusal or t.closed or ocaml.entries or ocaml.trades)
    assert len(differing) < len(events) // 2, "the bulk check left nothing out"
    # a single flipped bit of a quiet bar's equity (or stop loss) is not left out
    quiet = sorted(set(range(len(events))) - differing)
    for offset in (24, 56):
        for k in quiet[:: max(1, len(quiet) // 10)]:
            changed = bytearray(heads)
            changed[k * size + offset] ^= 1
            assert k in _differing(memoryview(bytes(changed)), events, tails)


@pytest.mark.parametrize(("a", "b"), [
    (0.0, -0.0), (1.0, 1.0), (float("nan"), float("nan")), (1.0, 1), (None, None),
    (float("nan"), -float("nan")), (1e300 * 10, float("inf")),
    ((1.0, "long", (2.0, None)), (1.0, "long", (2.0, None))),
    ((1.0, "long", (2.0, None)), (1.0, "long", (2.0, 0.0))),
    ((0.1 + 0.2,), (0.3,)), ("idle", "idle"), ((), ()), ((1.0,), [1.0]),
])
def test_same_is_equality_of_the_bits(a: object, b: object) -> None:
    assert same(a, b) == (_bits(a) == _bits(b)) == same(b, a)


def test_the_worker_s_cpu_counts_the_trade_check(ocaml_server: Path) -> None:
    """With no indicator read, the worker only checks trades; its CPU still shows."""
    from bridge.shadow import ShadowObserver
    from bridge.shadow.settings import ShadowConfig

    observer = ShadowObserver(ShadowConfig(executable=str(ocaml_server)))
    observer.book_opened("BTCUSDT", COSTS, EXECUTION)
    for symbol, bar, trading in _python(_script()):
        observer.bar_traded(symbol, bar, trading)
    observer.close()
    summary = observer.summary()
    assert summary["trade_bars"] == len(_script()) and summary["trade_mismatches"] == 0
    assert summary["compared"] == 0 and summary["worker_cpu_ms"] > 0.0  # type: ignore[operator]
