"""The shadow process's side (bridge/shadow/process.py): the observer calls of a run,
replayed into a ShadowObserver of its own.

The process is forked from the run, so it has every module and type the run
has and starts in milliseconds. It reads batches of the run's observer calls
from one pipe and makes the same calls on a ``ShadowObserver``, whose worker
thread checks them against the OCaml servers exactly as it would inside the
run. Everything it has to say goes back up the other pipe: mismatch rows (for
the run's journal), log records (for the run's logging) and, last, the
observer's summary.
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
from array import array
from collections.abc import Sequence
from typing import Any, Final

from bridge.shadow.observer import ShadowObserver, shadow_config
from bridge.shadow.pipe import (
    OPEN_BOOK,
    OPEN_STREAM,
    TRADED,
    VALUES,
    encode,
    read_frames,
    write_all,
)
from engine.market.bar import Bar
from engine.run.config import RunConfig
from engine.run.trades import BarTrading

log = logging.getLogger("tandem.shadow")
#: The worker's GATHER_S here: its batches no longer cost the run GIL hand-offs, and
#: what is queued when the run ends is what the run waits for. 10 ms against 50:
#: the run's close 17 ms against 26-36, the process's CPU unchanged (3 runs each).
GATHER_S: Final = 0.01
_new: Final = tuple.__new__  # a Bar or a BarTrading from a plain tuple (NamedTuples)


class Outbox:
    """The pipe up to the run; the main and the worker thread both write to it."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._lock = threading.Lock()

    def send(self, message: object) -> None:
        """Write one message (blocking: the run's reader thread always drains it)."""
        frame = encode(message)
        with self._lock:
            write_all(self._fd, frame)


class ForwardingSink:
    """A MismatchSink sending each row up to the run, which journals it."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    def record_mismatch(self, *row: Any) -> None:
        """Send the mismatch row (the arguments of ``Journal.record_mismatch``)."""
        self._outbox.send(("mismatch", row))


class ForwardingHandler(logging.Handler):
    """Sends each log record up to the run, which logs it through its own handlers."""

    def __init__(self, outbox: Outbox) -> None:
        super().__init__()
        self._outbox = outbox

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._outbox.send(("log", record.name, record.levelno, record.getMessage()))
        except Exception:
            self.handleError(record)


def forward_logging(outbox: Outbox) -> None:
    """Route every logger of this process to the run (the inherited handlers
    write to the run's streams, which may be objects only the run can see)."""
    loggers = [logging.getLogger(), *(x for x in logging.Logger.manager.loggerDict.values()
                                      if isinstance(x, logging.Logger))]
    for logger in loggers:
        logger.handlers = []
    handler = ForwardingHandler(outbox)
    logging.getLogger().addHandler(handler)
    logging.getLogger("tandem").addHandler(handler)  # it does not propagate


def replay(observer: ShadowObserver, batch: tuple[Sequence[tuple[Any, ...]], array[float]]
           ) -> None:
    """Make the run's calls of ``batch`` (its calls, and the served values of its
    VALUES calls, flat: each call says how many are its own) on ``observer``, in order."""
    items, floats = batch
    pos = 0
    for item in items:
        tag = item[0]
        if tag == VALUES:
            end = pos + item[3]
            observer.bar_values(item[1], _new(Bar, item[2]), floats[pos:end].tolist())
            pos = end
        elif tag == TRADED:
            observer.bar_traded(item[1], _new(Bar, item[2]), _new(BarTrading, item[3]))
        elif tag == OPEN_STREAM:
            observer.stream_opened(*item[1:])
        elif tag == OPEN_BOOK:
            observer.book_opened(*item[1:])
        else:
            raise ValueError(f"shadow process: unknown call tag {tag!r}")


def serve(config: RunConfig, down: int, up: int) -> None:
    """The shadow process's life: replay every batch read from ``down`` until the
    run closes it, then send the summary up ``up``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the run, which closes us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the run's handler
    gc.freeze()  # everything inherited from the run lives until we exit
    outbox = Outbox(up)
    forward_logging(outbox)
    observer = ShadowObserver(shadow_config(config), ForwardingSink(outbox),
                              gather_s=GATHER_S)
    failure: str | None = None
    for batch in read_frames(down):
        if failure is not None:
            continue  # read to the end, so that the run never sees a broken pipe
        try:
            replay(observer, batch)  # type: ignore[arg-type]
        except Exception as exc:  # a bug of shadow mode: count it, never reach the run
            log.exception("shadow: internal error in the shadow process; no more checks")
            failure = f"internal error in the shadow process: {exc!r}"
    observer.close()
    summary: dict[str, Any] = dict(observer.summary())
    if failure is not None:
        summary["errors"] = int(summary["errors"]) + 1
        summary.setdefault("first_error", failure)
        summary["gave_up"] = failure
    outbox.send(("summary", summary))
