"""Shadow mode in a process of its own, forked from the run (docs/design.md §7).

On the run's thread, ``ShadowObserver`` costs little per bar, but its worker
thread's Python (batching, comparing, replaying trades) holds the run's GIL: on
bench/shadow.py a run takes ≈ 1.6× as long with it as without, ≈ 1.2× with the
check forked out (medians of 9), at about the same CPU (≈ 1.75×: the process does
what the thread did, and the run pickles). ``ShadowProcess`` is the same observer
with the worker moved out of the run: it forks a shadow process (bridge/shadow/child.py)
that holds a ``ShadowObserver`` of its own, and on the run's thread it only
keeps each observer call as a tuple of plain values and, every ``FLUSH_ITEMS``
calls or ``FLUSH_S`` seconds, pickles the batch into a pipe (one write,
never blocking: a full pipe keeps the rest for the next batch). What the process
has to say — mismatch rows, log records, its summary — comes back up a second
pipe, read by a thread of the run that journals and logs it as the in-run
worker would have.

Forking is safe only from a process with one thread (the child gets a copy of
every lock, held or not, and only the forking thread), so ``start`` declines
when the run has other threads, and ``make_shadow_observer`` then keeps the
worker in the run. The process never raises into the run: if it dies, or
falls too far behind, the run goes on and the summary counts the error.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import math
import os
import select
import signal
import threading
import traceback
from array import array
from collections.abc import Mapping
from time import monotonic, sleep
from typing import TYPE_CHECKING, Any, Final

from bridge.shadow.pipe import (
    CLOSE_TIMEOUT_S,
    OPEN_BOOK,
    OPEN_STREAM,
    TRADED,
    VALUES,
    encode,
    read_frames,
)

if TYPE_CHECKING:  # the run imports only this module and pipe: the rest is the process's
    import numpy as np
    import numpy.typing as npt

    from bridge.shadow.mirror import Served
    from bridge.shadow.settings import MismatchSink
    from engine.market.bar import Bar
    from engine.observer import IndicatorValue, Params
    from engine.run.config import RunConfig
    from engine.run.trades import BarTrading
    from engine.state import Costs, Execution

log = logging.getLogger("tandem.shadow")

#: Calls per batch: ≈ 2 a bar, so ≈ 256 bars, ≈ 80 KiB with 15 indicators. Pickling
#: costs ≈ 1.2 µs a bar in the run (0.7 on objects hot in cache); batches of 32 calls
#: cost the run more CPU, bigger ones save nothing and wait longer.
FLUSH_ITEMS: Final = 512
#: The longest a call waits in the run before it is sent (a live feed's bars are slow).
FLUSH_S: Final = 0.05
#: The pipe's buffer (Linux's default is 64 KiB: less than one batch).
PIPE_BYTES: Final = 1 << 20
#: Unsent bytes after which the run stops sending: the process is stuck or far behind.
MAX_BACKLOG_BYTES: Final = 1 << 28
#: How much longer than the process's own close the run waits for its summary.
CLOSE_GRACE_S: Final = 10.0


class ShadowProcess:
    """A RunObserver and TradeObserver (engine/run/trades.py) whose checks run in
    a forked shadow process; see the module docstring. Made by ``start``."""

    def __init__(self, config: RunConfig, journal: MismatchSink | None, pid: int,
                 down: int, up: int) -> None:
        self.config = config
        self.pid = pid
        self._journal = journal
        self._down = down  # the run's end of the pipe to the process
        self._items: list[tuple[Any, ...]] = []
        # The served values of the batch, flat, NaN for None (what the check makes of
        # None). Kept as C doubles: pickled as Python floats they cost ≈ 1 µs a bar more.
        self._floats = array("d")
        self._flush_at = monotonic() + FLUSH_S
        self._backlog = bytearray()  # bytes the pipe did not take yet
        self._last_bar: Bar | None = None
        self._last_tuple: tuple[Any, ...] = ()
        self.dropped = 0  # bars not sent once sending stopped
        self._stopped: str | None = None  # why sending stopped (a counted error)
        self._closed = False
        self._status: int | None = None  # the process's wait status, once reaped
        self._summary: dict[str, Any] | None = None
        self._reader = threading.Thread(target=self._read, args=(up,), daemon=True,
                                        name="tandem-shadow-reader")
        self._reader.start()

    # --- the run's thread: cheap and never raising ----------------------------------

    def stream_opened(self, symbol: str, name: str, params: Params,
                      history: Mapping[str, npt.NDArray[np.float64]],
                      value: IndicatorValue) -> None:
        """Queue the opening of a mirror stream."""
        self._items.append((OPEN_STREAM, symbol, name, params, dict(history), value))

    def bar_values(self, symbol: str, bar: Bar, values: Served) -> None:
        """Queue a bar and the values served for it (into the batch's floats)."""
        try:
            self._floats.fromlist(values)  # type: ignore[arg-type]  # (all or nothing)
            n = len(values)
        except TypeError:  # a None (warm-up) or a (name, params, value) form
            flat = _as_floats(values)
            self._floats.fromlist(flat)
            n = len(flat)
        # A Bar pickles through Python-level code (a NamedTuple's __getnewargs__), a
        # plain tuple in C; the bar's two calls share one (pickle stores it once).
        if bar is not self._last_bar:
            self._last_bar, self._last_tuple = bar, tuple(bar)
        self._items.append((VALUES, symbol, self._last_tuple, n))

    def book_opened(self, symbol: str, costs: Costs, execution: Execution) -> None:
        """Queue the opening of the symbol's OCaml book."""
        self._items.append((OPEN_BOOK, symbol, costs, execution))

    def bar_traded(self, symbol: str, bar: Bar, trading: BarTrading) -> None:
        """Queue a bar's trading (the last call of every bar: batches end here)."""
        if bar is not self._last_bar:
            self._last_bar, self._last_tuple = bar, tuple(bar)
        items = self._items
        items.append((TRADED, symbol, self._last_tuple, tuple(trading)))
        if len(items) >= FLUSH_ITEMS or monotonic() >= self._flush_at:
            self._flush()

    def _flush(self) -> None:
        items, self._items = self._items, []
        floats, self._floats = self._floats, array("d")
        self._flush_at = monotonic() + FLUSH_S
        if self._stopped is not None:
            self.dropped += sum(1 for item in items if item[0] == TRADED)
            return
        try:
            frame = encode((items, floats))
        except Exception as exc:  # a type pickle refuses: a bug of shadow mode
            self._stop(f"a batch could not be sent to the shadow process: {exc!r}")
            return
        if self._backlog:
            self._backlog += frame
        else:
            self._backlog = bytearray(frame)
        self._send()
        if len(self._backlog) > MAX_BACKLOG_BYTES:
            self._stop(f"the shadow process fell {len(self._backlog)} bytes behind")

    def _send(self) -> None:
        """Write what the pipe takes now (non-blocking)."""
        backlog = self._backlog
        try:
            while backlog:
                del backlog[:os.write(self._down, backlog)]
        except BlockingIOError:
            pass
        except OSError as exc:  # the process is gone
            self._stop(f"the shadow process (pid {self.pid}) stopped reading: {exc} "
                       f"({_status(self._poll())})")

    def _stop(self, why: str) -> None:
        if self._stopped is None:
            self._stopped = why
            log.error("shadow: %s; no more checks in this run", why)
        self._backlog.clear()

    # --- the reader thread --------------------------------------------------------------

    def _read(self, up: int) -> None:
        try:
            for message in read_frames(up):
                try:
                    self._handle(message)
                except Exception:  # a bug of shadow mode: log it, keep reading (the
                    # process would block on a full pipe, and the run's close wait for it)
                    log.exception("shadow: internal error handling the shadow process's %r",
                                  message[0] if isinstance(message, tuple) else message)
                if self._summary is not None:
                    break  # its last word: the process exits now
        except Exception:  # a corrupt frame (a bug): the process is reaped at close
            log.exception("shadow: internal error reading the shadow process")
        finally:
            os.close(up)

    def _handle(self, message: Any) -> None:
        kind = message[0]
        if kind == "mismatch":
            if self._journal is not None:
                self._journal.record_mismatch(*message[1])
        elif kind == "log":
            logging.getLogger(message[1]).log(message[2], "%s", message[3])
        elif kind == "summary":
            self._summary = message[1]

    # --- end of run ---------------------------------------------------------------------

    def close(self, timeout: float = CLOSE_TIMEOUT_S + CLOSE_GRACE_S) -> None:
        """Send the rest, let the process finish (at most ``timeout`` s), then reap it."""
        if self._closed:
            return
        self._closed = True
        deadline = monotonic() + timeout
        if self._items:
            self._flush()
        self._drain(deadline)
        os.close(self._down)  # end of input: the process finishes and sends its summary
        self._reader.join(max(0.0, deadline - monotonic()))
        if self._summary is None:
            status = self._reap(deadline)
            if self._stopped is None:
                self._stopped = (f"the shadow process (pid {self.pid}) ended without its "
                                 f"summary ({_status(status)})")
                log.error("shadow: %s", self._stopped)
        # else the process is exiting: ``summary`` reaps it, so that its exit (≈ 15 ms
        # of unmapping what it copied) overlaps the end of the run, not delays it

    def _drain(self, deadline: float) -> None:
        poller = select.poll()
        poller.register(self._down, select.POLLOUT)
        while self._backlog and self._stopped is None:
            remaining = deadline - monotonic()
            if remaining <= 0 or not poller.poll(remaining * 1000.0):
                self._stop("the shadow process did not take the last bars in time")
                return
            self._send()

    def _poll(self) -> int | None:
        """The process's wait status if it has ended (reaping it), else None."""
        if self._status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self._status = status
        return self._status

    def _reap(self, deadline: float) -> int:
        """The process's wait status; killed if it outlives ``deadline``."""
        while (status := self._poll()) is None:
            if monotonic() >= deadline:
                os.kill(self.pid, signal.SIGKILL)
                self._status = os.waitpid(self.pid, 0)[1]
                return self._status
            sleep(0.002)
        return status

    def summary(self) -> Mapping[str, object]:
        """The process's summary (ShadowObserver.summary's fields), with what the
        run itself counted: bars it did not send, and why it stopped. After
        ``close``; reaps the process (waiting at most CLOSE_GRACE_S)."""
        if self._closed:
            self._reap(monotonic() + CLOSE_GRACE_S)
        if self._summary is not None:
            out = dict(self._summary)
        else:  # the same fields, all zero
            from bridge.shadow.observer import ShadowObserver, shadow_config

            out = dict(ShadowObserver(shadow_config(self.config), start=False).summary())
        out["dropped"] = int(out["dropped"]) + self.dropped
        if self._stopped is not None:
            out["errors"] = int(out["errors"]) + 1
            out.setdefault("first_error", self._stopped)
            out.setdefault("gave_up", self._stopped)
        out["runs_in"] = "process"
        return out


def _as_floats(values: Served) -> list[float]:
    """``values`` as floats, NaN for None: the flat slots, or (name, params, value)
    per stream (each output of a multi-output value in turn)."""
    out: list[float] = []
    for v in values:
        item = v[2] if isinstance(v, tuple) and len(v) == 3 and isinstance(v[0], str) else v
        if isinstance(item, tuple):
            out.extend(math.nan if x is None else x for x in item)
        else:
            out.append(math.nan if item is None else item)
    return out


def start(config: RunConfig, journal: MismatchSink | None) -> ShadowProcess | None:
    """Fork the shadow process; None when this process may not fork (other threads
    run, or there is no ``fork``) or the fork fails."""
    if not hasattr(os, "fork") or threading.active_count() != 1:
        return None
    cpu = run_cpu()
    down_r, down_w = os.pipe()
    up_r, up_w = os.pipe()
    try:
        pid = os.fork()
    except OSError as exc:
        for fd in (down_r, down_w, up_r, up_w):
            os.close(fd)
        log.warning("shadow: cannot fork a shadow process (%s); checking in the run", exc)
        return None
    if pid == 0:  # the shadow process: never returns
        _child(config, cpu, down_r, down_w, up_r, up_w)
    os.close(down_r)
    os.close(up_w)
    os.set_blocking(down_w, False)
    # Above /proc/sys/fs/pipe-max-size it fails: the default works too, in more writes.
    with contextlib.suppress(OSError):
        fcntl.fcntl(down_w, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    return ShadowProcess(config, journal, pid, down_w, up_r)


def run_cpu() -> int | None:
    """The CPU this process last ran on (Linux: field 39 of /proc/self/stat), or None."""
    try:
        with open("/proc/self/stat", "rb") as stat:
            return int(stat.read().rsplit(b")", 1)[1].split()[36])
    except (OSError, ValueError, IndexError):
        return None


def avoid_cpu(cpu: int | None) -> None:
    """Keep this process (and the OCaml servers it starts, which inherit it) off
    ``cpu``, the run's, when another CPU is allowed.

    A write to a pipe wakes its reader "in sync": the scheduler puts the reader on
    the writer's CPU, as if the writer were about to sleep, so every batch the run
    sent pulled the shadow process onto the run's CPU. Kept off it: the run's
    elapsed time with shadow on bench/shadow.py fell 0.496 -> 0.464 s (median of 9;
    without shadow 0.361).
    """
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        return
    allowed = os.sched_getaffinity(0) - {cpu}
    if allowed:
        os.sched_setaffinity(0, allowed)


def _child(config: RunConfig, cpu: int | None, down_r: int, down_w: int, up_r: int,
           up_w: int) -> None:
    """The forked process: serve, then leave at once (``os._exit``: none of the
    run's exit handlers, buffers or finalizers may run twice)."""
    code = 0
    try:
        os.close(down_w)
        os.close(up_r)
        avoid_cpu(cpu)
        from bridge.shadow.child import serve  # imported here, beside the run, not in it

        serve(config, down_r, up_w)
    except BaseException:
        code = 1
        with contextlib.suppress(BaseException):
            os.write(2, traceback.format_exc().encode())
    finally:
        os._exit(code)


def _status(status: int | None) -> str:
    if status is None:
        return "still running"
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"
