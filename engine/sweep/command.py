"""``python -m engine sweep``: plan, resume, run, journal and rank a parameter sweep.

1. The strategy is loaded once (its declared parameters type the grid; a name it
   does not declare is an error with "did you mean"), the grid is built, filtered
   (``--where``) and sampled (``--random``), and the data is read once.
2. The sweep's fingerprint (everything that decides its runs) finds it in the
   journal when it was started before: only tasks without a ``sweep_runs`` row run.
3. The tasks run in this process (``--jobs 1``), a process pool, or on Ray; each
   result is journaled as it arrives. Walk-forward then runs each fold's best
   in-sample combination out of sample.
4. The ranked result is printed (table or ``--json``), kept in ``sweeps.summary``
   and drawn into ``--html``.

Exit codes: 0 — every run finished and the objective is defined for at least one;
1 — some runs failed, or the objective is undefined for every run (a marked
result); 2 — bad input (printed by engine/cli.py); 130 — interrupted (Ctrl-C: the
runs finished so far are journaled; the same command resumes).
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from engine.errors import ConfigError, StrategyError
from engine.run.command import _setup_logging
from engine.run.session import ObserverFactory
from engine.strategy.params import ParamValue
from engine.sweep.data import Dataset, load_dataset
from engine.sweep.expr import parse_where
from engine.sweep.grid import Grid, parse_axis, select
from engine.sweep.plan import SweepConfig, Task, TaskResult, grid_tasks
from engine.sweep.render import html_page, render_table, result
from engine.sweep.store import SweepStore
from engine.sweep.walkforward import Row, folds_report, oos_tasks
from engine.sweep.worker import WorkerContext

EXIT_PARTIAL = 1
EXIT_INTERRUPTED = 130


class Interrupted(Exception):
    """A run of the sweep was interrupted (SIGINT / SIGTERM in this process)."""


@dataclass(frozen=True, slots=True)
class Plan:
    """The checked sweep: typed defaults, grid axes, tasks and data."""

    defaults: Mapping[str, ParamValue]
    axes: tuple[str, ...]
    tasks: list[Task]
    dataset: Dataset
    sha256: str


def plan(sc: SweepConfig) -> Plan:
    """Check the grid against the strategy and read the data (ConfigError on bad input)."""
    try:
        strategy = sc.run.load_strategy(sc.run.strategy)
    except StrategyError as exc:
        raise ConfigError(f"--strategy {sc.run.strategy}: {exc}") from None
    grid = Grid(tuple(parse_axis(item) for item in sc.grid))
    both = sorted(set(grid.names) & set(sc.run.params))
    if both:
        raise ConfigError(f"--grid {both[0]} and --param {both[0]}: give it in one of them")
    defaults = dict(strategy.params)
    where = None if sc.where is None else parse_where(sc.where)
    combos = select(grid.combinations(defaults), defaults, where, sc.random, sc.run.seed)
    dataset = load_dataset(sc.run)
    lengths = {s: len(a) for s, a in dataset.arrays.items()}
    return Plan(defaults, grid.names, grid_tasks(combos, lengths, sc.walk_forward), dataset,
                strategy.sha256)


def fingerprint(sc: SweepConfig, p: Plan) -> tuple[str, dict[str, Any]]:
    """(sha256, spec): what decides the sweep's runs (not --jobs, --ray or outputs)."""
    run = asdict(sc.run)
    for name in ("journal", "strategy_for", "watch", "binance_ws_url", "binance_rest_url"):
        run.pop(name, None)
    spec = {"run": run, "strategy_sha256": p.sha256, "data": p.dataset.fingerprint(),
            "grid": list(sc.grid), "where": sc.where, "random": sc.random,
            "walk_forward": sc.walk_forward, "maximize": sc.maximize,
            "heatmap": list(sc.heatmap) if sc.heatmap else None}
    decisive = {k: v for k, v in spec.items() if k not in ("maximize", "heatmap")}
    text = json.dumps(decisive, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest(), json.loads(json.dumps(spec, default=str))


Backend = Callable[[WorkerContext, Sequence[Task]], Iterator[TaskResult]]


def backend(sc: SweepConfig) -> Backend:
    """Where the tasks run: Ray, this process (one job) or a process pool."""
    if sc.ray is not None:
        from engine.sweep.ray_backend import run_ray

        address = sc.ray
        return lambda ctx, tasks: run_ray(ctx, tasks, address)
    if sc.processes == 1:
        from engine.sweep.local import run_serial

        return run_serial
    from engine.sweep.local import run_pool

    jobs = sc.processes
    return lambda ctx, tasks: run_pool(ctx, tasks, jobs)


class Sweep:
    """One invocation of a sweep: its store, plan, rows and counters."""

    def __init__(self, sc: SweepConfig, observer_factory: ObserverFactory | None,
                 argv: Sequence[str]) -> None:
        self.sc, self.argv = sc, list(argv)
        self.plan = plan(sc)
        self.fingerprint, self.spec = fingerprint(sc, self.plan)
        self.ctx = WorkerContext(sc.run, self.plan.dataset.arrays,
                                 self.plan.dataset.interval_ms, observer_factory)
        self.store = SweepStore(sc.run.journal)
        self.sweep_id, self.resumed = self.store.open_sweep(
            self.fingerprint, self.argv, self.spec, len(self.plan.tasks))
        self.done = self.store.done(self.sweep_id)
        self.rows: dict[str, Row] = {}
        self.ran = self.skipped = 0

    def execute(self, tasks: Sequence[Task], progress: Callable[[int], None]) -> None:
        """Run the tasks not yet recorded; journal each result as it arrives."""
        todo = []
        for task in tasks:
            old = self.done.get(task.key)
            if old is None:
                todo.append(task)
                continue
            self.skipped += 1
            progress(1)
            self.rows[task.key] = Row(task, old["status"], old["error"], old["statistics"],
                                      old["run_id"], old["equity"])
        for res in backend(self.sc)(self.ctx, todo):
            if res.status == "interrupted":
                raise Interrupted
            self._record(res)
            progress(1)

    def _record(self, res: TaskResult) -> None:
        run = self.sc.run
        params = {**self.plan.defaults, **res.task.params}
        run_id = self.store.record(
            self.sweep_id, res, command=self.argv, strategy_path=str(run.strategy),
            params=params, feed=run.feed, seed=run.seed if run.feed.strip() == "sim" else None,
            fee_bps=run.fee_bps, slippage_bps=run.slippage_bps)
        self.rows[res.task.key] = Row(res.task, res.status, res.error, res.statistics, run_id,
                                      res.equity)
        self.ran += 1

    def walk_forward(self, progress: Callable[[int], None]) -> dict[str, Any] | None:
        """The out-of-sample runs of each fold, and the folds' report."""
        folds = self.sc.walk_forward
        if folds is None:
            return None
        lengths = {s: len(a) for s, a in self.plan.dataset.arrays.items()}
        rows = list(self.rows.values())
        oos = oos_tasks(rows, lengths, folds, self.sc.objective, len(self.plan.tasks))
        self.execute(oos, progress)
        return folds_report(list(self.rows.values()), lengths, folds, self.sc.objective)

    def result(self, status: str, wf: Mapping[str, Any] | None) -> dict[str, Any]:
        """The ranked result of what is recorded so far."""
        return result(sweep_id=self.sweep_id, status=status, objective=self.sc.objective,
                      maximize=self.sc.maximize, rows=list(self.rows.values()),
                      axes=self.plan.axes, ran=self.ran, skipped=self.skipped,
                      rejected_bars=len(self.plan.dataset.rejected), walk_forward=wf)


def sweep_main(
    sc: SweepConfig, observer_factory: ObserverFactory | None = None,
    argv: Sequence[str] | None = None,
) -> int:
    """Run the sweep ``sc``; print and journal its result; return the exit code."""
    _setup_logging()
    sweep = Sweep(sc, observer_factory, sys.argv if argv is None else argv)
    status, wf = "finished", None
    total = len(sweep.plan.tasks) + (0 if sc.walk_forward is None else
                                     sc.walk_forward * len(sweep.plan.dataset.arrays))
    try:
        with _progress(total, sc.json) as advance:
            sweep.execute(sweep.plan.tasks, advance)
            wf = sweep.walk_forward(advance)
    except (KeyboardInterrupt, Interrupted):
        status = "interrupted"
    except BaseException:
        sweep.store.end_sweep(sweep.sweep_id, "failed", None)
        raise
    res = sweep.result(status, wf)
    sweep.store.end_sweep(sweep.sweep_id, status, res)
    sweep.store.close()
    _output(sc, res)
    if status == "interrupted":
        return EXIT_INTERRUPTED
    return EXIT_PARTIAL if res["failed"] or res["best"] is None else 0


def _output(sc: SweepConfig, res: Mapping[str, Any]) -> None:
    output(res, html=sc.html, json_line=sc.json, heatmap=sc.heatmap)


def output(res: Mapping[str, Any], *, html: Path | None, json_line: bool,
           heatmap: tuple[str, str] | None = None) -> None:
    """A sweep's result: the HTML page to ``html``, then one JSON line or the table
    (``sweep`` at its end and ``report --sweep`` from the journal)."""
    if html is not None:
        x, y = heatmap_axes(heatmap, res["axes"])
        Path(html).write_text(html_page(res, x, y), encoding="utf-8")
    if json_line:
        sys.stdout.flush()
        print(json.dumps(res, separators=(",", ":"), allow_nan=False))
    else:
        render_table(res)


def heatmap_axes(heatmap: tuple[str, str] | None,
                 axes: Sequence[str]) -> tuple[str | None, str | None]:
    """The heatmap's two parameters: --heatmap, else the first two axes, else the one
    axis against the symbol."""
    if heatmap is not None:
        return heatmap
    if len(axes) >= 2:
        return axes[0], axes[1]
    return (axes[0], "symbol") if axes else (None, None)


class _progress:
    """A rich progress bar on stderr when it is a terminal (and not --json)."""

    def __init__(self, total: int, quiet: bool) -> None:
        self.total, self.show = total, not quiet and sys.stderr.isatty()
        self.bar: Any = None

    def __enter__(self) -> Callable[[int], None]:
        if not self.show:
            return lambda n: None
        from rich.console import Console
        from rich.progress import Progress

        self.bar = Progress(console=Console(stderr=True), transient=True)
        self.bar.start()
        task = self.bar.add_task("sweep", total=self.total)
        return lambda n: self.bar.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
