"""The bridge's fast paths for small requests against the general ones, and the reading
of replies that do not arrive as one whole frame per read.

The fast encoder and decoder must give the very bytes and values of the general ones;
the client must decode a reply that arrives in many pieces, and must refuse bytes that
follow its reply (one request is in flight, so they mean the stream is out of step).
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from bridge import OcamlIndicators
from bridge import protocol as p
from engine.errors import BridgeError

X = np.linspace(10.0, 20.0, 50)


@pytest.mark.parametrize("field", range(4))
@pytest.mark.parametrize("size", [0, 1, 200])
def test_one_series_encoder_gives_the_general_encoders_bytes(field: int, size: int) -> None:
    values = np.arange(size, dtype=p.F64) * 1.5
    job = p.Job("bollinger", (20.0, 2.0, -0.0))
    series: list[p.FloatArray | None] = [None] * 4
    series[field] = values
    general = p.encode_series_request(p.Kind.BATCH, 77, series, [job])
    fast = p.encode_one_series(p.Kind.BATCH, 77, field, values, p.job_bytes(*job))
    assert b"".join(bytes(b) for b in fast) == b"".join(bytes(b) for b in general)


def test_a_negative_zero_parameter_keeps_its_sign_after_a_positive_zero() -> None:
    positive = p.job_bytes("bollinger", (20.0, 0.0, 2.0))
    negative = p.job_bytes("bollinger", (20.0, -0.0, 2.0))  # equal keys to a cache
    assert positive != negative
    assert struct.unpack_from("<3d", negative, 11)[1] == 0.0
    assert np.signbit(struct.unpack_from("<3d", negative, 11)[1])


def _batch_body(entries: list[tuple[int, list[np.ndarray] | str]], count: int = -1) -> bytes:
    """A batch reply body: per entry (status, outputs) or (code, message)."""
    body = struct.pack("<HHI", len(entries) if count < 0 else count, 0, 0)
    for status, content in entries:
        if isinstance(content, str):
            text = content.encode()
            body += struct.pack("<BBHI", status, 0, 0, len(text)) + text
            body += b"\0" * (-len(text) % 8)
        else:
            size = content[0].size if content else 0
            body += struct.pack("<BBHI", 0, len(content), 0, size)
            body += b"".join(a.astype("<f8").tobytes() for a in content)
    return body


BODIES = {
    "one output": _batch_body([(0, [X])]),
    "three outputs": _batch_body([(0, [X, X * 2, -X])]),
    "empty output": _batch_body([(0, [np.empty(0)])]),
    "no outputs": _batch_body([(0, [])]),
    "an error": _batch_body([(3, "sma: period = 0 is out of range")]),
}


@pytest.mark.parametrize("case", list(BODIES))
def test_one_job_decoder_equals_the_general_decoder(case: str) -> None:
    body = BODIES[case]
    fast = p.decode_one(memoryview(bytearray(body)))
    general = p.decode_batch(memoryview(bytearray(body)))[0]
    if isinstance(general, p.ServerError):
        assert fast == general
    else:
        assert isinstance(fast, list) and len(fast) == len(general)
        for a, b in zip(fast, general, strict=True):
            assert a.tobytes() == b.tobytes()


BAD_BODIES = {
    "two entries": _batch_body([(0, [X]), (0, [X])]),
    "no entries": _batch_body([]),
    "cut short": _batch_body([(0, [X])])[:-8],
    "trailing bytes": _batch_body([(0, [X])]) + b"\0" * 8,
    "count says one, two follow": _batch_body([(0, [X]), (0, [X])], count=1),
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_one_job_decoder_refuses_what_is_not_one_entry(case: str) -> None:
    with pytest.raises(p.ProtocolError):
        p.decode_one(memoryview(bytearray(BAD_BODIES[case])))


# --- replies as the pipe delivers them: a fake server that offers sma ----------------

FAKE_SERVER = """
import struct, sys, time
inp, out = sys.stdin.buffer, sys.stdout.buffer

def read():
    length = struct.unpack("<I", inp.read(4))[0]
    return inp.read(length)

def frame(kind, rid, body):
    return struct.pack("<IBBHI", 8 + len(body), kind, 0, 0, rid) + body

def str8(s):
    return bytes([len(s)]) + s.encode()

hello = read()
catalog = (struct.pack("<II", 1, 1) + str8("sma") + b"\\x01" + str8("close") + b"\\x01"
           + str8("period") + struct.pack("<d", 30.0) + b"\\x01" + str8("value"))
out.write(frame(0x81, struct.unpack_from("<I", hello, 4)[0], catalog)); out.flush()
while True:
    request = read()
    if not request:
        break
    rid = struct.unpack_from("<I", request, 4)[0]
    n = struct.unpack_from("<I", request, 8 + 12)[0]  # the close length
    values = request[32 : 32 + 8 * n]  # the reply echoes the close series
    reply = frame(0x82, rid, struct.pack("<HHIBBHI", 1, 0, 0, 0, 1, 0, n) + values)
    MODE
"""
MODES = {
    # the frame start byte by byte, then pieces of 997 bytes, each its own write, with
    # pauses that let the client read in between
    "pieces": "i = 0\n"
              "    while i < len(reply):\n"
              "        step = 1 if i < 40 else 997\n"
              "        out.write(reply[i : i + step]); out.flush(); i += step\n"
              "        time.sleep(0.0005)",
    "two replies at once": "out.write(reply + reply); out.flush()",
}


def _fake(tmp_path: Path, mode: str) -> Path:
    script = tmp_path / "fake.py"
    script.write_text(FAKE_SERVER.replace("MODE", MODES[mode]))
    path = tmp_path / "fake_server"
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{script}"\n')
    path.chmod(0o755)
    return path


@pytest.mark.parametrize("size", [1, 50, 9000])  # 9000 floats: more than the reusable buffer
def test_a_reply_arriving_in_many_pieces_still_decodes(tmp_path: Path, size: int) -> None:
    x = np.random.default_rng(size).normal(size=size)
    with OcamlIndicators(_fake(tmp_path, "pieces"), request_timeout=30.0) as client:
        for _ in range(2):  # and the reusable buffer serves the next reply as well
            got = client.sma(x, 5)
            assert isinstance(got, np.ndarray) and got.tobytes() == x.tobytes()


def test_bytes_after_the_reply_are_a_bridge_error(tmp_path: Path) -> None:
    with OcamlIndicators(_fake(tmp_path, "two replies at once"), request_timeout=5.0) as client:
        first = client.pid
        with pytest.raises(BridgeError, match=r"corrupt reply.*followed"):
            client.sma(X, 5)
        assert client.pid is None  # discarded: the pipe is out of step
        with pytest.raises(BridgeError, match="followed"):
            client.sma(X, 5)  # from a new process, which does the same
        assert first is not None and client.pid is None
