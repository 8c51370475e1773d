"""Round-trip cost of the OCaml indicator bridge, next to a raw pipe through `cat`.

Prints p50/p99 of a 200-point single-indicator request and a 15-indicator batch,
the time of 10^6-point requests, and, in the same run, the round trip of the very
same request bytes through `cat` (the floor any pipe-based bridge pays), with the
I/O system calls per request of both processes on both sides (strace -f, when
installed). Run: .venv/bin/python bench/bridge.py [--quick] [--no-syscalls]

Both sides are measured with the same placement on the CPUs (``placed``), because
where the scheduler puts the two processes of a round trip decides more than either
bridge does. On this 2-vCPU VM a `cat` round trip of 200 points costs ≈ 9 µs when
`cat` runs on the caller's CPU and ≈ 55 µs when it runs on the other one (waking an
idle vCPU), and left alone the scheduler picks either for long stretches, so an
unpinned `cat` column swings between them from one run to the next. The table
therefore shows each small request twice: "cross" (this process on one CPU, both
servers on the other: every request and every reply wakes the other CPU) and "same"
(all on one CPU: no cross-CPU wake-up, what is left is the two programs' own cost).

``measure(quick)`` returns the figures as a dict for a summary (``make bench``);
import this file by path (importlib), as its name is the package's.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

# This file is named like the package it measures: drop bench/ from the path
# so `import bridge` finds the package, not this script.
sys.path[:] = [d for d in sys.path if Path(d or ".").resolve() != Path(__file__).parent.resolve()]

import bridge  # noqa: E402
from bridge import OcamlIndicators  # noqa: E402
from bridge import protocol as p  # noqa: E402
from bridge.client import Request  # noqa: E402
from bridge.transport import set_pipe_size  # noqa: E402

# All 15 indicators with every parameter spelled out (TA-Lib's defaults; 20 for
# the three averages), so the cat baseline sends exactly the client's bytes.
REQUESTS: list[Request] = [
    ("sma", (20,)), ("ema", (20,)), ("wma", (20,)), ("rsi", (14,)), ("macd", (12, 26, 9)),
    ("bollinger", (20, 2.0, 2.0)), ("atr", (14,)), ("stoch", (5, 3, 3)), ("willr", (14,)),
    ("cci", (14,)), ("adx", (14,)), ("mfi", (14,)), ("obv", ()), ("roc", (10,)), ("mom", (10,)),
]


def series(n: int, seed: int = 7) -> dict[str, np.ndarray]:
    """A random-walk bar series of n points."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    spread = close * rng.uniform(0.0, 0.01, n)
    return {"high": close + spread, "low": close - spread, "close": close,
            "volume": rng.uniform(1.0, 1e4, n)}


class CatPipe:
    """A `cat` process; round_trip writes bytes and reads the same bytes back."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     bufsize=0)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.out, self.inp = self.proc.stdin.fileno(), self.proc.stdout.fileno()
        for fd in (self.out, self.inp):
            os.set_blocking(fd, False)
            set_pipe_size(fd)
        self.buf = bytearray(1 << 16)

    def round_trip(self, parts: Sequence[bytes | memoryview]) -> None:
        pending = [memoryview(b).cast("B") for b in parts if len(b)]
        total = sum(len(b) for b in pending)
        sink = memoryview(self.buf if total <= len(self.buf) else bytearray(total))
        got = 0
        poller = select.poll()
        while got < total:
            if pending:
                try:
                    n = os.writev(self.out, pending)
                    while n and n >= len(pending[0]):
                        n -= len(pending.pop(0))
                    if n:
                        pending[0] = pending[0][n:]
                except BlockingIOError:
                    pass
            try:
                got += os.readv(self.inp, [sink[got:total]])
                continue
            except BlockingIOError:
                pass
            poller = select.poll()
            poller.register(self.inp, select.POLLIN)
            if pending:
                poller.register(self.out, select.POLLOUT)
            poller.poll()

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()


def paired_timings(
    ours: Callable[[], object], cat: Callable[[], object], repeat: int, warmup: int = 20
) -> tuple[np.ndarray, np.ndarray]:
    """Per-call wall times in microseconds of ``repeat`` calls of each, in alternating
    blocks of back-to-back calls of one side (``block_size``), so that both see the same
    machine load (the machine is shared) and each is timed as a caller uses it: one
    request after another.

    Why blocks and not single calls alternating: on this 2-vCPU VM whichever side runs
    second in a pair is the faster, by up to 5×. The same `cat` pipe measured against a
    second `cat` pipe gave p50 63 µs first and 12 µs second, either way round (the other
    vCPU has just been woken by the first call, so the second call's peer finds it awake).
    Timed singly alternating, `cat` always went second and the 200-point ratio read 3.6×;
    back to back it is 1.6–1.8× (ours 84–104 µs, cat 52–57 µs).
    """
    for _ in range(warmup):
        ours()
        cat()
    size = block_size(repeat)
    out = np.empty((2, repeat))
    for start in range(0, repeat, size):
        stop = min(start + size, repeat)
        # which side opens the pair of blocks alternates too
        order = (0, 1) if (start // size) % 2 == 0 else (1, 0)
        for j in order:
            fn = (ours, cat)[j]
            for i in range(start, stop):
                t0 = time.perf_counter_ns()
                fn()
                out[j, i] = (time.perf_counter_ns() - t0) / 1e3
    return out[0], out[1]


def block_size(repeat: int) -> int:
    """Calls per block in ``paired_timings``: about 20 blocks of each side, at most 250
    calls (a few tens of milliseconds for the small requests)."""
    return max(1, min(250, repeat // 20))


def request_bytes(data: dict[str, np.ndarray], requests: list[Request]) -> list[bytes]:
    """The exact frame the client sends for this batch (for the cat baseline)."""
    jobs = [p.Job(name, tuple(float(v) for v in params)) for name, params in
            ((r, ()) if isinstance(r, str) else r for r in requests)]
    arrays = [data.get(f) for f in p.FIELDS]
    return [bytes(b) for b in p.encode_series_request(p.Kind.BATCH, 1, arrays, jobs)]


def row(label: str, ours: np.ndarray, cat: np.ndarray, calls: Syscalls | None,
        extra: str = "") -> None:
    """One table line: p50/p99 of ours and of cat, the ratios of the p50s and of the
    minima (the minimum is the steadiest estimate on a shared, noisy machine), and the
    I/O system calls per request of each process (client/server, ours then cat's)."""
    o50, o99, c50, c99 = (np.percentile(a, q) for a in (ours, cat) for q in (50, 99))
    sys_text = "-" if calls is None else (f"{calls.client:.1f}/{calls.server:.1f} "
                                          f"{calls.cat_client:.1f}/{calls.cat_server:.1f}")
    print(f"{label:<38} {o50:>9.1f} {o99:>9.1f} {c50:>9.1f} {c99:>9.1f} "
          f"{o50 / c50:>7.2f}x {ours.min() / cat.min():>7.2f}x {sys_text:>19}  {extra}")


# --- system calls per request: strace on a worker run of this script ------------------

IO_CALLS = ("read", "write", "readv", "writev", "poll", "ppoll", "select", "pselect6",
            "epoll_wait", "epoll_pwait")


class Syscalls(NamedTuple):
    """I/O system calls (IO_CALLS) per request: our client, our server, and the same
    two for the `cat` round trip of the same bytes."""

    client: float
    server: float
    cat_client: float
    cat_server: float


class Case(NamedTuple):
    """One benchmarked request: how the client makes it and the bytes cat gets."""

    label: str
    ours: Callable[[OcamlIndicators], object]
    frame: list[bytes]
    repeat: int  # timed repetitions (full run)


def cases(quick: bool) -> dict[str, Case]:
    """The benchmarked requests by key (the keys of ``measure``'s figures)."""
    s200, s1m = series(200), series(1_000_000)
    small, big = (2000, 5) if quick else (20000, 40)
    return {
        "sma_200": Case("sma, 200 points", lambda ind: ind.sma(s200["close"], 20),
                        request_bytes({"close": s200["close"]}, [("sma", (20,))]), small),
        "batch_200": Case("15-indicator batch, 200 points",
                          lambda ind: ind.batch(REQUESTS, **s200),
                          request_bytes(s200, REQUESTS), small),
        "sma_1m": Case("sma, 10^6 points", lambda ind: ind.sma(s1m["close"], 20),
                       request_bytes({"close": s1m["close"]}, [("sma", (20,))]), big),
        "batch_1m": Case("15-indicator batch, 10^6 points",
                         lambda ind: ind.batch(REQUESTS, **s1m),
                         request_bytes(s1m, REQUESTS), max(3, big // 4)),
    }


def _worker(side: str, key: str, count: int) -> None:
    """Runs ``count`` round trips of one case on one side ("ours" or "cat") after a
    warm-up, printing this process's pid and its peer's first (for strace)."""
    case = cases(quick=True)[key]
    if side == "cat":
        cat = CatPipe()
        cat.round_trip(case.frame)
        print(os.getpid(), cat.proc.pid, flush=True)
        for _ in range(count):
            cat.round_trip(case.frame)
        cat.close()
        return
    with OcamlIndicators(request_timeout=120.0) as ind:
        case.ours(ind)
        print(os.getpid(), ind.pid, flush=True)
        for _ in range(count):
            case.ours(ind)


def _traced_counts(side: str, key: str, count: int, log: Path) -> tuple[int, int]:
    """(client, peer) I/O system calls of a traced worker run of ``count`` requests."""
    done = subprocess.run(
        ["strace", "-f", "-qq", "-o", str(log), "-e", "trace=" + ",".join(IO_CALLS),
         sys.executable, __file__, "--worker", side, key, str(count)],
        capture_output=True, text=True, timeout=600, check=True,
        # the worker measures the bridge package this process imported
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
            str(Path(bridge.__file__).resolve().parent.parent), os.environ.get("PYTHONPATH")]))},
    )
    client, peer = done.stdout.split()[:2]
    per_pid: dict[str, int] = {}
    for line in log.read_text().splitlines():
        pid, _, call = line.partition(" ")
        if call.split("(", 1)[0].strip() in IO_CALLS:
            per_pid[pid] = per_pid.get(pid, 0) + 1
    return per_pid.get(client, 0), per_pid.get(peer, 0)


def syscalls(key: str, count: int) -> Syscalls | None:
    """I/O system calls per request of case ``key`` on both sides, from the difference
    of strace'd runs of ``count`` and 2 × ``count`` requests (so start-up and the
    handshake cancel out); None without strace. strace slows both processes down, so
    a wait that a fast run avoids may be counted (a poll when the reply is late)."""
    if shutil.which("strace") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        figures = []
        for side in ("ours", "cat"):
            low = _traced_counts(side, key, count, Path(tmp) / f"{side}.low")
            high = _traced_counts(side, key, 2 * count, Path(tmp) / f"{side}.high")
            figures += [(h - lo) / count for h, lo in zip(high, low, strict=True)]
    return Syscalls(*figures)


# --- the benchmark ---------------------------------------------------------------------

PLACEMENTS = ("cross", "same")


@contextlib.contextmanager
def placed(placement: str, peers: Sequence[int]) -> Iterator[None]:
    """Pins this process and the ``peers`` (process ids) for the block, then restores
    every affinity: "cross" puts this process on the first allowed CPU and the peers on
    the second, "same" puts all on the first (see the module docstring). With a single
    allowed CPU "cross" is the same as "same"."""
    mine = os.sched_getaffinity(0)
    theirs = [os.sched_getaffinity(pid) for pid in peers]
    cpus = sorted(mine)
    here, there = cpus[0], cpus[1 if placement == "cross" and len(cpus) > 1 else 0]
    try:
        os.sched_setaffinity(0, {here})
        for pid in peers:
            os.sched_setaffinity(pid, {there})
        yield
    finally:
        os.sched_setaffinity(0, mine)
        for pid, cpus_before in zip(peers, theirs, strict=True):
            os.sched_setaffinity(pid, cpus_before)


def measure(quick: bool = False, keys: Sequence[str] = ("sma_200", "sma_1m"),
            count_syscalls: bool = True, show: bool = False,
            placements: Sequence[str] = PLACEMENTS) -> dict[str, float]:
    """Figures of the cases ``keys`` (see ``cases``), per placement (``placed``): per
    case ``<key>_<placement>_p50_us``, ``<key>_<placement>_cat_p50_us`` and
    ``<key>_<placement>_ratio`` (the p50s' ratio, ours over cat) and, when strace is
    present, ``<key>_syscalls_client`` / ``_server`` / ``_cat_client`` / ``_cat_server``
    (I/O system calls per request, unpinned). ``show`` prints a table row each."""
    figures: dict[str, float] = {}
    table = cases(quick)
    cat = CatPipe()
    try:
        with OcamlIndicators(request_timeout=120.0) as ind:
            for key in keys:
                case = table[key]
                small = case.repeat > 100
                calls = syscalls(key, 200 if small else 2) if count_syscalls else None
                if calls is not None:
                    figures |= {f"{key}_syscalls_{k}": v for k, v in calls._asdict().items()}
                for where in placements:
                    with placed(where, [ind.pid, cat.proc.pid]):
                        ours, raw = paired_timings(
                            functools.partial(case.ours, ind),
                            functools.partial(cat.round_trip, case.frame),
                            case.repeat, warmup=20 if small else 1)
                    o50, c50 = float(np.percentile(ours, 50)), float(np.percentile(raw, 50))
                    name = f"{key}_{where}"
                    figures |= {f"{name}_p50_us": o50, f"{name}_cat_p50_us": c50,
                                f"{name}_ratio": o50 / c50}
                    if show:
                        row(f"{case.label}, {where}", ours, raw, calls)
    finally:
        cat.close()
    return figures


def stream_rows(quick: bool) -> None:
    """Prints the stream-push rows (cross placement): one stream, and all 15."""
    s200 = series(200)
    cat = CatPipe()
    with OcamlIndicators(request_timeout=120.0) as ind:
        handle = ind.open_stream("macd", (), {"close": s200["close"]})
        handles = [ind.open_stream(n, params, s200) for n, params in
                   ((r, ()) if isinstance(r, str) else r for r in REQUESTS)]
        push_one = p.encode_push(1, [handle.stream_id], [101.0, 99.0, 100.0, 5.0])
        push_all = p.encode_push(1, [h.stream_id for h in handles], [101.0, 99.0, 100.0, 5.0])
        repeat = 2000 if quick else 20000
        with placed("cross", [ind.pid, cat.proc.pid]):
            row("stream push (1 stream), cross", *paired_timings(
                lambda: ind.push(handle, 101.0, 99.0, 100.0, 5.0),
                lambda: cat.round_trip(push_one), repeat), None)
            row("stream push_many (15), cross", *paired_timings(
                lambda: ind.push_many(handles, 101.0, 99.0, 100.0, 5.0),
                lambda: cat.round_trip(push_all), repeat), None)
    cat.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--no-syscalls", action="store_true", help="skip the strace counts")
    parser.add_argument("--worker", nargs=3, metavar=("SIDE", "CASE", "COUNT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args.worker[0], args.worker[1], int(args.worker[2]))
        return
    print(f"{'request':<38} {'p50 us':>9} {'p99 us':>9} {'cat p50':>9} {'cat p99':>9} "
          f"{'p50 x':>8} {'min x':>8} {'syscalls/req':>19}")
    measure(args.quick, list(cases(True)), not args.no_syscalls, show=True)
    stream_rows(args.quick)
    print("syscalls/req: I/O system calls (read/write/readv/writev/poll/select/epoll) per "
          "request, client/server for ours, then for the cat round trip (strace -f, unpinned).")
    print("cross: this process on one CPU, both servers on the other; same: all on one CPU "
          "(see the module docstring).")


if __name__ == "__main__":
    main()
