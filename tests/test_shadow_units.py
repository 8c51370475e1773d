"""Shadow mode's parts: wire framing, bar log, value matrices, sampling, comparison,
rate-limited logging and the bounded queue (drop the comparison, keep the bar)."""

from __future__ import annotations

import logging
import math
import os
import struct
import time
from pathlib import Path

import numpy as np
import pytest
from factories import make_bar
from hypothesis import given
from hypothesis import strategies as st

from bridge import protocol as p
from bridge.protocol import fixed_replies, push_frame, push_frames
from bridge.shadow import ShadowObserver
from bridge.shadow.channel import _count_frames
from bridge.shadow.compare import differences
from bridge.shadow.mirror import BarLog, SymbolMirror, make_layout, new_stream, python_matrix
from bridge.shadow.settings import RateLimitedLog, ShadowConfig, percentile
from bridge.transport import DEFAULT_EXECUTABLE
from engine.errors import BridgeError
from engine.indicators import streaming
from engine.market.bar import Bar
from engine.observer import IndicatorValue, Params

SERVER = Path(os.environ.get("TANDEM_OCAML_BIN") or DEFAULT_EXECUTABLE)
needs_server = pytest.mark.usefixtures("ocaml_server")


def test_push_frame_is_byte_identical_to_the_protocol_encoder() -> None:
    ids = [3, 7, 4_000_000_000]
    bar = (101.5, 99.25, 100.0, 12345.0)
    expected = b"".join(p.encode_push(42, ids, bar))
    ids_bytes = np.array(ids, dtype="<u4").tobytes()
    assert push_frame(42, ids_bytes, len(ids), bar) == expected


def test_bulk_push_frames_equal_the_protocol_encoder_bar_by_bar_across_id_wrap() -> None:
    ids = [3, 7, 4_000_000_000]
    rows = np.array([[101.5, 99.25, 100.0, 12345.0], [-0.0, 1e-300, 2.5, 0.0],
                     [1e300, -7.0, 3.0, 4.0]])
    first = 0xFFFFFFFF  # request ids wrap to 0, 1 like Channel.next_id
    expected = b"".join(b"".join(p.encode_push(rid, ids, tuple(row)))
                        for rid, row in zip([first, 0, 1], rows, strict=True))
    assert push_frames(first, np.array(ids, dtype="<u4").tobytes(), rows) == expected


def _reply(rid: int, words: list[int], kind: int = p.Kind.PUSH | 0x80) -> bytes:
    body = np.array(words, dtype="<u8").tobytes()
    return struct.pack("<IBBHI", 8 + len(body), kind, 0, 0, rid) + body


def test_fixed_replies_returns_the_bodies_only_when_every_frame_is_as_expected() -> None:
    good = b"xx" + _reply(9, [1, 2]) + _reply(10, [3, 4])  # two stray bytes before: offset
    words = fixed_replies(memoryview(good), 2, 2, p.Kind.PUSH, 9, 2)
    assert words is not None
    np.testing.assert_array_equal(words, [[1, 2], [3, 4]])
    bad = {
        "wrong id": _reply(9, [1, 2]) + _reply(11, [3, 4]),
        "an error reply": _reply(9, [1, 2]) + _reply(10, [3, 4], kind=p.Kind.ERROR),
        "another size": _reply(9, [1, 2]) + _reply(10, [3]) + b"\0" * 8,
        "cut short": _reply(9, [1, 2]) + _reply(10, [3]),
    }
    for why, data in bad.items():
        assert fixed_replies(memoryview(data), 0, 2, p.Kind.PUSH, 9, 2) is None, why


def test_frame_counting_in_runs_equals_counting_one_by_one() -> None:
    sizes = [3, 3, 3, 1, 1, 5, 3, 3, 2, 2, 2, 2]
    data = b"".join(_reply(i, list(range(w))) for i, w in enumerate(sizes))
    ends = np.cumsum([12 + 8 * w for w in sizes])
    for cut in range(len(data) + 1):  # every way the bytes can have arrived so far
        done, scan = _count_frames(bytearray(data[:cut]), 0, 0)
        assert done == int(np.sum(ends <= cut))
        assert scan == (int(ends[done - 1]) if done else 0)
    with pytest.raises(BridgeError, match="frame length 4"):
        _count_frames(bytearray(data + struct.pack("<I", 4) + b"\0" * 20), 0, 0)


def test_bar_log_returns_exact_bars_since_a_start_and_none_once_trimmed() -> None:
    log = BarLog(capacity=5)
    rows = np.arange(48, dtype=np.float64).reshape(12, 4)
    for chunk in (rows[:3], rows[3:7], rows[7:12]):
        log.extend(chunk)
    assert log.end == 12
    # at least 5 bars are kept; whole chunks are dropped: the first two went
    assert log.first == 7
    assert log.since(6) is None
    since = log.since(8)
    assert since is not None
    np.testing.assert_array_equal(since, rows[8:])
    np.testing.assert_array_equal(log.last(), rows[11])


def _rows(n: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    close = 100 + np.cumsum(rng.normal(size=n))
    return np.column_stack([close + 1, close - 1, close, rng.uniform(1, 10, n)])


def test_value_matrix_from_flat_slots_and_from_named_tuples_agree() -> None:
    rows = _rows(3)
    streams = [new_stream("sma", (2,), rows, 0), new_stream("macd", (3, 5, 2), rows, 0),
               new_stream("rsi", (3,), rows, 0)]
    for i, s in enumerate(streams):
        s.stream_id = 10 + i
    streams[1].dead = "refused"  # a dead stream's slots are skipped
    layout = make_layout(streams)
    flat = [[1.5, None, None, None, 40.0], [2.5, 0.1, 0.2, -0.1, None]]
    named: list[list[tuple[str, Params, IndicatorValue]]] = [
        [("sma", (2,), 1.5), ("macd", (3, 5, 2), None), ("rsi", (3,), 40.0)],
        [("sma", (2,), 2.5), ("macd", (3, 5, 2), (0.1, 0.2, -0.1)), ("rsi", (3,), None)]]
    expected = np.array([[1.5, 40.0], [2.5, math.nan]])
    np.testing.assert_array_equal(python_matrix(flat, layout), expected)
    np.testing.assert_array_equal(python_matrix(named, layout), expected)
    floats_only = [[1.5, 0.1, 0.2, -0.1, 40.0], [2.5, 0.3, math.nan, 0.0, -0.0]]
    np.testing.assert_array_equal(python_matrix(floats_only, layout), [[1.5, 40.0], [2.5, -0.0]])
    streams[1].dead = None  # every slot live: the matrix is the slots themselves
    np.testing.assert_array_equal(python_matrix(floats_only, make_layout(streams)), floats_only)
    with pytest.raises(ValueError):  # slot lists of different lengths are a bug, not data
        python_matrix([[1.5, 0.1, 0.2, -0.1, 40.0], [2.5, 0.3, 0.1, 0.0]], layout)
    # the PUSH reply layout of the two live streams: count word, then header + value each
    assert layout.header_idx.tolist() == [1, 3] and layout.value_idx.tolist() == [2, 4]


@pytest.mark.parametrize(("rate", "picked"), [(1.0, 1000), (0.25, 250), (0.3, 300), (0.001, 1)])
def test_sampling_is_deterministic_and_exact(rate: float, picked: int) -> None:
    mirror = SymbolMirror("X", BarLog(10))
    chosen = [k for k in range(1000) if mirror.sampled(rate)]
    assert len(chosen) == picked
    if rate == 0.25:
        assert chosen[:3] == [3, 7, 11]  # every 4th bar


def test_differences_follow_the_contract() -> None:
    nan = math.nan
    python = np.array([[100.0, nan, 0.0, 50.0, 100.0, 1.0]])
    ocaml = np.array([[100.0, nan, -0.0, 50.0 + 2e-7, 100.0 + 5e-8, nan]])
    names = ["sma", "sma", "mom", "rsi", "sma", "ema"]
    diffs = differences(python, ocaml, names, lambda row, col: 1000.0)
    by_column = {d.column: d for d in diffs}
    assert sorted(by_column) == [3, 4, 5]  # equal values, NaN = NaN and 0 = -0 are settled
    # RSI: |diff| 2e-7 > 1e-7 absolute
    assert not by_column[3].check.ok and by_column[3].check.scaled_error == pytest.approx(2.0)
    # price: 5e-8 <= 1e-9 * 1000
    assert by_column[4].check.ok and by_column[4].check.scaled_error == pytest.approx(0.05)
    # a value against no value
    assert not by_column[5].check.ok and by_column[5].check.scaled_error == math.inf


def test_nan_payloads_and_signed_zeros_are_no_differences() -> None:
    # OCaml's nan has other bits than numpy's; the bit-for-bit fast test must not count it
    other_nan = np.array([0x7FF0000000000001, 0xFFF8000000000000], dtype=np.uint64)
    python = np.array([[math.nan, math.nan, 0.0, 2.5]])
    ocaml = np.array([[*other_nan.view(np.float64), -0.0, 2.5]])
    assert differences(python, ocaml, ["sma"] * 4, lambda row, col: 1.0) == []
    ocaml[0, 3] = 2.6
    assert [d.column for d in differences(python, ocaml, ["sma"] * 4, lambda r, c: 1.0)] == [3]


@given(st.lists(st.floats(0.0, 10.0), min_size=1, max_size=60),
       st.sampled_from([0.0, 1.0, 25.0, 50.0, 90.0, 99.0, 99.9, 100.0]))
def test_percentile_is_numpys_linear_percentile_bit_for_bit(samples: list[float],
                                                            q: float) -> None:
    assert percentile(samples, q, 1e-3) == float(np.percentile(np.asarray(samples), q)) / 1e-3
    assert percentile([], q, 1.0) is None


def test_rate_limited_log_keeps_a_burst_then_counts(caplog: pytest.LogCaptureFixture) -> None:
    limiter = RateLimitedLog(interval=3600.0, burst=3)
    with caplog.at_level(logging.WARNING, logger="tandem.shadow"):
        for i in range(10):
            limiter.warn("mismatches", f"line {i}")
        limiter.finish()
    messages = [r.getMessage() for r in caplog.records]
    assert messages[:3] == ["line 0", "line 1", "line 2"]
    assert messages[3:] == ["shadow: 7 more mismatches not logged (see the journal)"]


# -- the bounded queue ---------------------------------------------------------------


def _bars(start: int, n: int, rows: np.ndarray) -> list[Bar]:
    return [make_bar(start + k, r[2], high=r[0], low=r[1], volume=r[3])
            for k, r in zip(range(n), rows, strict=True)]


def _serve(observer: ShadowObserver, ema: streaming.Stream, bars: list[Bar]) -> None:
    """Update ``ema`` with each bar and hand its value to ``observer``, as the runner does."""
    for bar in bars:
        value = ema.update_hlcv(bar.high, bar.low, bar.close, bar.volume)
        assert not isinstance(value, tuple)  # EMA has a single output
        observer.bar_values("BTCUSDT", bar, [value])


def _wait_empty(observer: ShadowObserver) -> None:
    deadline = time.monotonic() + 20.0
    while observer.pending and time.monotonic() < deadline:
        time.sleep(0.01)


@needs_server
def test_a_full_queue_drops_comparisons_but_keeps_the_streams_in_step() -> None:
    rows = _rows(40)
    observer = ShadowObserver(ShadowConfig(queue_capacity=5), start=False)
    history = {f: rows[:10, i].copy() for i, f in enumerate(p.FIELDS)}
    ema = streaming.create("ema", (5,), history)
    observer.stream_opened("BTCUSDT", "ema", (5,), history, ema.value)
    # 4 fit beside the open; 15 more go in without their values (hard limit 4 × 5)
    _serve(observer, ema, _bars(10, 19, rows[10:29]))
    assert observer.dropped == 15
    observer.start()
    _wait_empty(observer)
    # EMA remembers every bar: had the dropped bars not reached OCaml, these would differ
    _serve(observer, ema, _bars(29, 4, rows[29:33]))
    observer.close()
    summary = observer.summary()
    assert summary["dropped"] == 15
    assert summary["compared"] == 1 + 4 + 4
    assert summary["mismatches"] == 0 and summary["errors"] == 0


@needs_server
def test_past_the_hard_limit_shadow_stops_checking_and_says_so() -> None:
    rows = _rows(40)
    observer = ShadowObserver(ShadowConfig(queue_capacity=2), start=False)
    history = {f: rows[:10, i].copy() for i, f in enumerate(p.FIELDS)}
    ema = streaming.create("ema", (5,), history)
    observer.stream_opened("BTCUSDT", "ema", (5,), history, ema.value)
    _serve(observer, ema, _bars(10, 30, rows[10:40]))
    observer.start()
    observer.close()
    summary = observer.summary()
    assert summary["dropped"] == 29  # all but the one that fit beside the open
    assert summary["errors"] == 1 and "fell too far behind" in str(summary["gave_up"])
    assert summary["compared"] == 0 and summary["mismatches"] == 0


@needs_server
def test_an_internal_error_is_counted_and_the_streams_are_reseeded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import bridge.shadow.candidate as worker

    real = python_matrix  # the function shadow_worker imported
    calls = []

    def broken_once(*args: object) -> np.ndarray:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug")
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(worker, "python_matrix", broken_once)
    rows = _rows(40)
    observer = ShadowObserver(ShadowConfig(), start=False)
    history = {f: rows[:10, i].copy() for i, f in enumerate(p.FIELDS)}
    ema = streaming.create("ema", (5,), history)
    observer.stream_opened("BTCUSDT", "ema", (5,), history, ema.value)
    _serve(observer, ema, _bars(10, 4, rows[10:14]))
    observer.start()
    _wait_empty(observer)
    _serve(observer, ema, _bars(14, 4, rows[14:18]))
    observer.close()
    summary = observer.summary()
    assert summary["errors"] == 1 and "a bug" in str(summary["first_error"])
    assert summary["restarts"] == 1
    # the opening value, then the 4 bars after the restart, from a re-seeded EMA
    assert summary["compared"] == 1 + 4 and summary["mismatches"] == 0
