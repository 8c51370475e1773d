"""Running a sweep's tasks on Ray: a local Ray (``--ray``) or a cluster (``--ray ADDRESS``).

Ray is optional (``pip install -e '.[ray]'``); without it ``--ray`` is a ConfigError
saying so. The sweep's context (config and bars) is put into Ray's object store
once; every task receives it by reference, builds its own strategy runtime (a Lua
runtime cannot be pickled) and returns its result, which is yielded as soon as it
arrives (``ray.wait``). A node that lacks the strategy file (another machine) gets
its text with the task and writes it to a temporary file of its own. An address
that does not accept a connection within ``CONNECT_TIMEOUT_S`` is a ConfigError
naming it, before Ray is even started.
"""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from engine.errors import ConfigError
from engine.sweep.plan import Task, TaskResult
from engine.sweep.worker import WorkerContext, run_task

CONNECT_TIMEOUT_S = 5.0
INSTALL_HINT = "pip install -e '.[ray]' (or: pip install ray)"
DEFAULT_RAY_PORT = 6379


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--ray: Ray is not installed; install it with {INSTALL_HINT}") from None
    return ray


def check_reachable(address: str) -> None:
    """ConfigError unless ``address`` (HOST:PORT, ray://HOST:PORT) accepts a TCP connection."""
    if address == "auto":
        return
    hostport = address.removeprefix("ray://")
    host, sep, port_text = hostport.rpartition(":")
    if not sep:
        host, port_text = hostport, str(DEFAULT_RAY_PORT)
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError(f"--ray {address!r}: expected HOST:PORT, e.g. 10.0.0.5:6379") from None
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise ConfigError(
            f"--ray {address}: cannot reach a Ray cluster there ({exc}); start one with "
            "`ray start --head` on that machine, or check the address and port"
        ) from None


def run_ray(ctx: WorkerContext, tasks: Sequence[Task], address: str) -> Iterator[TaskResult]:
    """The tasks as Ray tasks on a local Ray (``address`` "") or the cluster at
    ``address``, yielded as they finish."""
    ray = _import_ray()
    if address:
        check_reachable(address)
    engine_root = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join(p for p in (engine_root, os.environ.get("PYTHONPATH")) if p)
    try:
        ray.init(
            address=address or None,
            num_cpus=None if address else (os.cpu_count() or 1),
            include_dashboard=False if not address else None,
            log_to_driver=False,
            runtime_env={"env_vars": {"PYTHONPATH": path, "OPENBLAS_NUM_THREADS": "1"}},
        )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the cluster at {address}" if address else "a local Ray"
        raise ConfigError(f"--ray {address}: cannot start or join {where}: {exc}") from None
    try:
        source = Path(ctx.config.strategy).read_bytes()
        ctx_ref = ray.put(ctx)
        remote = ray.remote(_ray_task)
        pending = [remote.remote(ctx_ref, source, t) for t in tasks]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
    finally:
        ray.shutdown()


def _ray_task(ctx: WorkerContext, source: bytes, task: Task) -> TaskResult:
    """One task on a Ray worker (the strategy written locally when the node lacks it)."""
    return run_task(_with_strategy(ctx, source), task, in_thread=True)


def _with_strategy(ctx: WorkerContext, source: bytes) -> WorkerContext:
    path = Path(ctx.config.strategy)
    if path.is_file() and hashlib.sha256(path.read_bytes()).digest() == \
            hashlib.sha256(source).digest():
        return ctx
    digest = hashlib.sha256(source).hexdigest()[:16]
    local = Path(tempfile.gettempdir()) / f"tandem-strategy-{digest}" / path.name
    if not local.is_file():
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_suffix(".tmp")
        tmp.write_bytes(source)
        tmp.replace(local)
    return replace(ctx, config=replace(ctx.config, strategy=local))
