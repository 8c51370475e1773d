"""What a run and its shadow process (bridge/shadow/process.py) send each other.

One frame is a 4-byte little-endian length and that many bytes of a pickle.
Both ends are our own code in one program, forked from one process: pickle
carries the run's own types (bars, positions, orders, actions), and nothing
from outside ever reaches a reader.

Down, to the process: batches, each the run's observer calls (a list, each
call a tuple led by its tag below) and the served values of its VALUES calls
(an ``array("d")``, flat, NaN for None). Up, to the run: ``("mismatch", row)`` (the
arguments of ``Journal.record_mismatch``), ``("log", logger name, level,
message)`` and, last, ``("summary", ShadowObserver.summary())``.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator
from typing import Final

HEADER: Final = 4

# The tags of the run's calls (the first element of each call in a batch).
OPEN_STREAM: Final = 0  # (tag, symbol, name, params, history, value)
VALUES: Final = 1  # (tag, symbol, bar as a tuple, how many of the batch's floats)
OPEN_BOOK: Final = 2  # (tag, symbol, costs, execution)
TRADED: Final = 3  # (tag, symbol, bar as a tuple, BarTrading as a tuple)

#: How long the checking side may take, at the end of a run, to finish what is
#: queued (ShadowObserver.close); the run waits that long for its shadow process.
CLOSE_TIMEOUT_S: Final = 120.0
#: Bytes asked of one ``os.read``: a batch of a few hundred bars is ≈ 100 KiB.
READ_CHUNK: Final = 1 << 20


def encode(message: object) -> bytes:
    """``message`` as one frame (pickle's errors propagate)."""
    data = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
    return len(data).to_bytes(HEADER, "little") + data


def read_frames(fd: int) -> Iterator[object]:
    """The messages arriving on ``fd`` (blocking), until end of input.

    A frame cut short by the end of input is dropped: its writer died while
    writing it, and nothing it would have said can be trusted to be whole.
    """
    buf = bytearray()
    while True:
        chunk = os.read(fd, READ_CHUNK)
        if not chunk:
            return
        buf += chunk
        start = 0
        while len(buf) - start >= HEADER:
            size = int.from_bytes(buf[start : start + HEADER], "little")
            end = start + HEADER + size
            if end > len(buf):
                break
            # a copy (a slice): buf may not be resized while a view of it lives
            yield pickle.loads(buf[start + HEADER : end])
            start = end
        del buf[:start]


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to the blocking ``fd`` (OSError propagates)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
