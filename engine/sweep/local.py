"""Running a sweep's tasks on this machine: in this process (one job) or a process pool.

The pool's workers are forked once per sweep (``fork`` where the platform has it,
else ``spawn``). The data reaches each worker once — inherited by the fork, or
pickled once into its initializer — and stays there for all its tasks: no task
parses or receives the bars again. Each worker holds that context in
``_WORKER`` (the one piece of process state a pool initializer must leave behind;
it is written once, when the worker starts).

Signals: workers ignore SIGINT and run each backtest on a helper thread, so that the
run installs no handler of its own; Ctrl-C reaches the sweep's process, which stops
the pool (its workers die at once: unfinished tasks are not recorded and rerun on
resume). On Linux a worker is also killed when the sweep's process dies (``kill -9``),
instead of lingering.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from typing import Any

from engine.sweep.plan import Task, TaskResult
from engine.sweep.worker import WorkerContext, run_task

_WORKER: dict[str, WorkerContext] = {}

PR_SET_PDEATHSIG = 1


def run_serial(ctx: WorkerContext, tasks: Sequence[Task]) -> Iterator[TaskResult]:
    """Each task in turn, in this process (a SIGINT ends the current run "interrupted")."""
    for task in tasks:
        yield run_task(ctx, task)


def run_pool(ctx: WorkerContext, tasks: Sequence[Task], jobs: int) -> Iterator[TaskResult]:
    """The tasks on ``jobs`` worker processes, yielded as they finish."""
    if not tasks:
        return
    executor = ProcessPoolExecutor(
        max_workers=min(jobs, len(tasks)), mp_context=_context(),
        initializer=_init_worker, initargs=(ctx,))
    try:
        futures: list[Future[TaskResult]] = [executor.submit(_pool_task, t) for t in tasks]
        for future in as_completed(futures):
            yield future.result()
    except BaseException:
        _stop(executor)
        raise
    executor.shutdown(wait=True)


def _context() -> Any:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _stop(executor: ProcessPoolExecutor) -> None:
    """Kill the workers now (their running tasks are dropped, rerun on resume)."""
    processes = list(getattr(executor, "_processes", {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        if p.is_alive():
            p.kill()
    for p in processes:
        p.join(timeout=5)


def _init_worker(ctx: WorkerContext) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        _die_with_parent()
    _WORKER["ctx"] = ctx


def _die_with_parent() -> None:
    import ctypes

    with contextlib.suppress(OSError, AttributeError):  # not glibc: no such guard
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _pool_task(task: Task) -> TaskResult:
    return run_task(_WORKER["ctx"], task, in_thread=True)
