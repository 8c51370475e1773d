"""bridge.OcamlIndicators when things go wrong, and the server's protocol guards.

Every bad request gets a typed error (the same type engine.indicators raises)
and the server keeps serving; a missing, hung, dead or corrupt server gives a
BridgeError and is replaced on the next call; a corrupt frame makes the server
exit non-zero with a message on stderr.
"""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import engine.indicators as py
from bridge import OcamlIndicators
from bridge import protocol as p
from bridge.transport import DEFAULT_EXECUTABLE, ENV_VAR
from engine.errors import BridgeError, IndicatorError
from engine.indicators.contract import compare

X = np.linspace(10.0, 20.0, 50)


@pytest.fixture(scope="module")
def server(ocaml_server: Path) -> Path:
    """The real server (tests/conftest.py builds it if missing)."""
    return ocaml_server


@pytest.fixture
def ind(server: Path) -> Iterator[OcamlIndicators]:
    with OcamlIndicators(server, request_timeout=10.0) as client:
        yield client


def fake_server(tmp_path: Path, script: str) -> Path:
    path = tmp_path / "fake_server"
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(0o755)
    return path


# --- bad requests: typed errors, and the server keeps serving -----------------

NAN_AT_7 = np.where(np.arange(50) == 7, np.nan, X)
BAD_CALLS: dict[str, tuple[str, tuple[Any, ...], str]] = {
    "period zero": ("sma", (X, 0), "period"),
    "period too large": ("rsi", (X, 100_001), "period"),
    "negative period": ("mom", (X, -3), "period"),
    "float period": ("ema", (X, 2.5), "period"),
    "bool period": ("wma", (X, True), "period"),
    "string period": ("roc", (X, "10"), "period"),
    "macd fast period 1": ("macd", (X, 1, 26, 9), "fast"),
    "nan input": ("ema", (NAN_AT_7, 5), "7"),
    "inf input": ("sma", (np.where(X > 15, np.inf, X), 5), "inf"),
    "nan high": ("atr", (NAN_AT_7, X, X, 5), "high"),
    "nan volume": ("obv", (X, NAN_AT_7), "volume"),
    "length mismatch": ("atr", (X, X[:49], X, 5), "49"),
    "mfi length mismatch": ("mfi", (X, X, X, X[:10], 5), "10"),
    "2-D input": ("sma", (np.ones((5, 5)), 2), "1-D"),
    "non-numeric input": ("sma", (["a", "b"], 2), "numbers"),
    "nan nbdev": ("bollinger", (X, 5, float("nan"), 2.0), "nbdev_up"),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_bad_request_is_an_indicator_error_and_the_server_survives(
    ind: OcamlIndicators, case: str
) -> None:
    name, args, mention = BAD_CALLS[case]
    with pytest.raises(IndicatorError):  # the engine rejects it too
        getattr(py, name)(*args)
    pid = ind.pid
    with pytest.raises(IndicatorError, match=mention):
        getattr(ind, name)(*args)
    assert ind.pid == pid  # same process, still serving
    assert ind.sma(X, 5)[4] == pytest.approx(np.mean(X[:5]))


def test_unknown_indicator_names_the_known_ones(ind: OcamlIndicators) -> None:
    with pytest.raises(IndicatorError, match=r'unknown indicator "smaa".*sma, ema'):
        ind.batch([("smaa", (5,))], close=X)
    with pytest.raises(IndicatorError, match="unknown indicator"):
        ind.open_stream("nope", ())
    assert ind.mom(X, 1)[1] == X[1] - X[0]


def test_unknown_parameter_name_is_an_indicator_error(ind: OcamlIndicators) -> None:
    with pytest.raises(IndicatorError, match="no parameter 'length'"):
        ind.batch([("sma", {"length": 5})], close=X)


def test_bad_stream_requests_are_indicator_errors(ind: OcamlIndicators) -> None:
    handle = ind.open_stream("ema", (3,), {"close": X})
    with pytest.raises(IndicatorError, match="low = nan"):
        ind.push(handle, 1.0, float("nan"), 1.0, 1.0)
    with pytest.raises(IndicatorError, match="period"):
        ind.open_stream("ema", (0,))
    with pytest.raises(IndicatorError, match="close"):
        ind.open_stream("ema", (3,), {"close": NAN_AT_7})
    with pytest.raises(IndicatorError, match="equal lengths"):
        ind.open_stream("atr", (3,), {"high": X, "low": X[:-1], "close": X})
    with pytest.raises(IndicatorError, match="needs the low history"):
        ind.open_stream("atr", (3,), {"high": X, "close": X})
    assert ind.push(handle, 21.0, 21.0, 21.0, 0.0) == pytest.approx(
        float(py.ema(np.append(X, 21.0), 3)[-1]), rel=1e-12)
    ind.close_stream(handle)
    with pytest.raises(IndicatorError, match="unknown stream"):
        ind.push(handle, 1.0, 1.0, 1.0, 1.0)
    with pytest.raises(IndicatorError, match="unknown stream"):
        ind.close_stream(handle)


# --- the process: missing, hung, dead ---------------------------------------------

def test_missing_executable_names_both_places_and_how_to_build(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "no_such_server"))
    with pytest.raises(BridgeError) as err:
        OcamlIndicators()
    message = str(err.value)
    assert str(tmp_path / "no_such_server") in message
    assert str(DEFAULT_EXECUTABLE) in message
    assert "make" in message and "dune build" in message


def test_environment_variable_chooses_the_executable(
    monkeypatch: pytest.MonkeyPatch, server: Path
) -> None:
    monkeypatch.setenv(ENV_VAR, str(server))
    with OcamlIndicators() as client:
        assert client.executable == server
        assert client.mom(X, 2)[2] == X[2] - X[0]


def test_server_that_never_answers_times_out_the_handshake(tmp_path: Path) -> None:
    silent = fake_server(tmp_path, "exec sleep 100")
    client = OcamlIndicators(silent, handshake_timeout=0.3)
    with pytest.raises(BridgeError, match=r"did not answer within 0\.3 s"):
        client.start()
    assert client.pid is None  # the hung process was killed, not kept
    with pytest.raises(BridgeError, match="did not answer"):
        client.sma(X, 5)  # tried again with a fresh process, which hangs too
    client.close()


def test_server_that_dies_at_start_reports_its_status_and_stderr(tmp_path: Path) -> None:
    broken = fake_server(tmp_path, "echo 'cannot load the indicators' >&2; exit 3")
    with pytest.raises(BridgeError, match=r"status 3.*cannot load the indicators"):
        OcamlIndicators(broken, handshake_timeout=5.0).start()


def test_hung_request_raises_and_the_next_call_restarts(server: Path) -> None:
    with OcamlIndicators(server, request_timeout=0.3) as client:
        first = client.pid
        assert first is not None
        os.kill(first, signal.SIGSTOP)  # the server stops answering
        with pytest.raises(BridgeError, match=r"did not answer within 0\.3 s"):
            client.sma(X, 5)
        client.request_timeout = 10.0  # a loaded machine must not fail the healthy call
        assert client.mom(X, 1)[1] == X[1] - X[0]
        assert client.pid not in (None, first)


def test_killed_server_fails_one_request_then_restarts(server: Path) -> None:
    with OcamlIndicators(server) as client:
        first = client.pid
        assert first is not None
        handle = client.open_stream("sma", (3,), {"close": X})
        os.kill(first, signal.SIGKILL)
        with pytest.raises(BridgeError, match=r"pid \d+\) exited with status -9"):
            client.ema(X, 5)
        assert client.ema(X, 5)[4] == pytest.approx(np.mean(X[:5]))  # seeded by an SMA
        assert client.pid not in (None, first)
        with pytest.raises(BridgeError, match="restarted; open it again"):
            client.push(handle, 1.0, 1.0, 1.0, 1.0)
        client.close_stream(handle)  # lost with its server: closing is a no-op


FAKE_SERVER = """
import struct, sys
inp, out = sys.stdin.buffer, sys.stdout.buffer

def read():
    length = struct.unpack("<I", inp.read(4))[0]
    payload = inp.read(length)
    return struct.unpack_from("<I", payload, 4)[0]

def send(kind, rid, body):
    out.write(struct.pack("<IBBHI", 8 + len(body), kind, 0, 0, rid) + body)
    out.flush()

send(0x81, read(), struct.pack("<II", 1, 0))  # a valid handshake with an empty catalog
rid = read()
{reply}
inp.read()
"""
BAD_REPLIES = {
    "wrong request id": ('send(0x82, rid + 1, struct.pack("<II", 0, 0))', "out of turn"),
    "wrong kind": ('send(0x85, rid, struct.pack("<II", 0, 0))', "out of turn"),
    "length below 8": ('out.write(struct.pack("<I", 3)); out.flush()', "corrupt reply"),
    "truncated body": ('send(0x82, rid, struct.pack("<HHIBBHI", 1, 0, 0, 0, 1, 0, 9))',
                       "corrupt reply"),
}


@pytest.mark.parametrize("case", list(BAD_REPLIES))
def test_nonsense_reply_is_a_bridge_error_and_the_server_is_replaced(
    tmp_path: Path, case: str
) -> None:
    reply, message = BAD_REPLIES[case]
    script = tmp_path / "fake.py"
    script.write_text(FAKE_SERVER.replace("{reply}", reply))
    fake = fake_server(tmp_path, f'exec "{sys.executable}" "{script}"')
    with OcamlIndicators(fake, request_timeout=5.0) as client:
        first = client.pid
        with pytest.raises(BridgeError, match=message):
            client.batch([("anything", ())], close=X)
        assert client.pid is None  # discarded: the pipe is out of step
        assert client.catalog == {}  # the next use starts and greets a new process
        assert client.pid not in (None, first)


def test_server_runs_in_its_own_session_so_ctrl_c_does_not_reach_it(server: Path) -> None:
    with OcamlIndicators(server) as client:
        assert client.pid is not None
        assert os.getsid(client.pid) == client.pid != os.getsid(0)


def test_closed_client_refuses_requests(server: Path) -> None:
    client = OcamlIndicators(server)
    client.close()
    with pytest.raises(BridgeError, match="closed"):
        client.sma(X, 5)


# --- the protocol, spoken directly ----------------------------------------------------

def run_server(server: Path, data: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(server)], input=data, capture_output=True, timeout=10, check=False)


def replies(stdout: bytes) -> list[tuple[int, int, bytes]]:
    """(kind, request id, body) of every frame in a server's output."""
    out, pos = [], 0
    while pos < len(stdout):
        length, kind, _, _, rid = struct.unpack_from("<IBBHI", stdout, pos)
        out.append((kind, rid, stdout[pos + 12 : pos + 4 + length]))
        pos += 4 + length
    return out


def hello(rid: int) -> bytes:
    return b"".join(p.encode_hello(rid))


CORRUPT_FRAMES: dict[str, Callable[[], bytes]] = {
    "length below the header size": lambda: struct.pack("<I", 3) + b"abc",
    "length above 1 GiB": lambda: struct.pack("<I", (1 << 30) + 1),
    "unknown message kind": lambda: struct.pack("<IBBHI", 8, 0x42, 0, 0, 9),
    "truncated payload": lambda: struct.pack("<IBBHI", 100, 0x01, 0, 0, 9) + b"\0" * 10,
    "truncated length prefix": lambda: b"\x10\x00",
}


@pytest.mark.parametrize("case", list(CORRUPT_FRAMES))
def test_corrupt_frame_ends_the_server_with_a_message(server: Path, case: str) -> None:
    done = run_server(server, hello(1) + CORRUPT_FRAMES[case]())
    assert done.returncode != 0
    assert b"corrupt frame" in done.stderr
    assert [k for k, _, _ in replies(done.stdout)] == [0x81]  # the request before it was served


def test_end_of_input_at_a_frame_boundary_is_a_clean_exit(server: Path) -> None:
    done = run_server(server, hello(1) + hello(2))
    assert done.returncode == 0 and done.stderr == b""
    assert [(k, rid) for k, rid, _ in replies(done.stdout)] == [(0x81, 1), (0x81, 2)]


def test_malformed_body_gets_an_error_reply_and_the_server_goes_on(server: Path) -> None:
    short_batch = struct.pack("<IBBHI", 8 + 6, p.Kind.BATCH, 0, 0, 5) + b"\x01\x00\x00\x00\x00\x00"
    done = run_server(server, short_batch + hello(6))
    assert done.returncode == 0
    (kind, rid, body), (kind2, rid2, _) = replies(done.stdout)
    assert (kind, rid, kind2, rid2) == (0xFF, 5, 0x81, 6)
    error = p.decode_error(memoryview(body))
    assert error.code == p.ErrorCode.MALFORMED and "body ends" in error.message


def test_version_mismatch_is_refused_by_an_error_reply(server: Path) -> None:
    done = run_server(server, b"".join(p.encode_hello(3, version=99)) + hello(4))
    (kind, rid, body), (kind2, _, _) = replies(done.stdout)
    assert (kind, rid, kind2) == (0xFF, 3, 0x81)
    assert p.decode_error(memoryview(body)).code == p.ErrorCode.VERSION


@pytest.mark.parametrize("n", [50, 5000])  # 5000: outputs written straight from the heap
def test_batch_reply_carries_per_job_errors_beside_results(server: Path, n: int) -> None:
    x = np.linspace(10.0, 20.0, n)
    jobs = [p.Job("sma", (3.0,)), p.Job("sma", (0.0,)), p.Job("nope", ()),
            p.Job("macd", (3.0, 5.0, 2.0))]
    request = b"".join(bytes(b) for b in p.encode_series_request(
        p.Kind.BATCH, 7, [None, None, x, None], jobs))
    (kind, rid, body), = replies(run_server(server, request).stdout)
    assert (kind, rid) == (0x82, 7)
    ok, bad_period, unknown, macd = p.decode_batch(memoryview(body))
    assert isinstance(ok, list) and ok[0][2:].tolist() == pytest.approx(
        np.convolve(x, np.ones(3) / 3, "valid").tolist(), rel=1e-12)
    assert isinstance(bad_period, p.ServerError)
    assert bad_period.code == p.ErrorCode.INVALID_ARGUMENT
    assert isinstance(unknown, p.ServerError)
    assert unknown.code == p.ErrorCode.UNKNOWN_INDICATOR
    assert isinstance(macd, list)
    report = compare("macd", macd, py.macd(x, 3, 5, 2), {"close": x})
    assert report.ok, report.describe()


def open_request(rid: int, close: np.ndarray, period: float) -> bytes:
    parts = p.encode_series_request(
        p.Kind.OPEN_STREAM, rid, [None, None, close, None], [p.Job("sma", (period,))])
    return b"".join(bytes(b) for b in parts)


def test_push_to_many_reports_an_unknown_stream_beside_the_values(server: Path) -> None:
    frames = (open_request(1, X, 3.0)
              + b"".join(p.encode_push(2, [1, 99, 1], [30.0, 30.0, 30.0, 1.0])))
    (_, _, opened), (kind, rid, body) = replies(run_server(server, frames).stdout)
    assert p.decode_opened(memoryview(opened))[0] == 1
    assert (kind, rid) == (0x84, 2)
    first, unknown, again = p.decode_push(memoryview(body))
    # The same stream got the bar twice: sma(3) over [X[-2], X[-1], 30] then [X[-1], 30, 30].
    assert first == pytest.approx(((X[-2] + X[-1] + 30.0) / 3,))
    assert again == pytest.approx(((X[-1] + 60.0) / 3,))
    assert isinstance(unknown, p.ServerError) and unknown.code == p.ErrorCode.UNKNOWN_STREAM


def test_close_with_an_unknown_id_closes_nothing(server: Path) -> None:
    frames = (open_request(1, X, 3.0)
              + b"".join(p.encode_close(2, [1, 42]))
              + b"".join(p.encode_push(3, [1], [30.0, 30.0, 30.0, 1.0])))
    _, (kind, _, body), (kind3, _, pushed) = replies(run_server(server, frames).stdout)
    assert kind == 0xFF and p.decode_error(memoryview(body)).code == p.ErrorCode.UNKNOWN_STREAM
    assert kind3 == 0x84 and isinstance(p.decode_push(memoryview(pushed))[0], tuple)


def test_open_stream_must_carry_exactly_one_job(server: Path) -> None:
    parts = p.encode_series_request(p.Kind.OPEN_STREAM, 1, [None, None, X, None],
                                    [p.Job("sma", (3.0,)), p.Job("ema", (3.0,))])
    (kind, _, body), = replies(run_server(server, b"".join(bytes(b) for b in parts)).stdout)
    assert kind == 0xFF and p.decode_error(memoryview(body)).code == p.ErrorCode.MALFORMED


# Requests over 1 MiB take the server's path that reads arrays straight from the pipe.
BIG = 100.0 + np.sin(np.arange(200_000) / 50.0)


@pytest.mark.parametrize("bad_index", [0, 1, 131_071, 150_000, 199_999])
def test_large_request_names_the_first_non_finite_value(
    ind: OcamlIndicators, bad_index: int
) -> None:
    x = BIG.copy()
    x[bad_index] = np.inf
    x[-1] = np.nan if bad_index != 199_999 else np.inf
    with pytest.raises(IndicatorError, match=rf"close\[{bad_index}\] = inf is not finite"):
        ind.ema(x, 10)
    with pytest.raises(IndicatorError, match=rf"close\[{bad_index}\] = inf is not finite"):
        ind.open_stream("ema", (10,), {"close": x})


def test_large_requests_agree_with_the_engine(ind: OcamlIndicators) -> None:
    high, low = BIG + 1.0, BIG - 1.0
    for name, args in (("ema", (BIG, 10)), ("atr", (high, low, BIG, 14))):
        report = compare(name, getattr(ind, name)(*args), getattr(py, name)(*args),
                         {"close": BIG, "high": high})
        assert report.ok, report.describe()
    handle = ind.open_stream("atr", (14,), {"high": high, "low": low, "close": BIG})
    assert handle.initial == pytest.approx(float(py.atr(high, low, BIG, 14)[-1]), rel=1e-9)
    ind.close_stream(handle)
    results = ind.batch(["sma", "rsi", "obv"], close=BIG, volume=BIG)
    obv = results[2]
    assert isinstance(obv, np.ndarray) and obv.tobytes() == np.asarray(ind.obv(BIG, BIG)).tobytes()
