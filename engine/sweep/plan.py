"""What a sweep runs: its typed config, its tasks (one backtest each) and their results.

A task is one combination of parameters × one symbol × one slice of that symbol's
bars (the whole series, or a walk-forward segment). Its ``key`` identifies it
within a sweep (the journal's ``sweep_runs.task_key``): a re-run of the same sweep
skips every task whose key is already recorded.

Walk-forward (``walk_forward=K``), rolling, equal parts: each symbol's n bars are
cut into K + 1 consecutive segments of ``n // (K + 1)`` bars (the remainder goes
to the last). Fold k (1..K) takes segment k−1 as its in-sample part and segment k
as its out-of-sample part: in-sample and out-of-sample are equally long (50 % / 50 %
of the fold), the out-of-sample parts never overlap and together cover segments
1..K. Every segment 0..K−1 runs the whole grid; for each fold, the combination
that maximises the objective in-sample runs again, as its own task, out of sample.
Each run starts fresh (flat, starting equity, no indicator history): its
indicators warm up inside its segment.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Final

from engine.errors import ConfigError
from engine.report.stats import Statistics
from engine.run.config import RunConfig
from engine.strategy.params import ParamValue

#: ``--maximize`` names → Statistics fields (any other numeric field name works too).
OBJECTIVES: Final = {
    "sharpe": "sharpe_ratio",
    "sortino": "sortino_ratio",
    "calmar": "calmar_ratio",
    "return": "return_pct",
    "return_ann": "return_ann_pct",
    "profit_factor": "profit_factor",
    "win_rate": "win_rate_pct",
    "expectancy": "expectancy_pct",
    "sqn": "sqn",
    "kelly": "kelly_criterion",
    "equity": "equity_final",
}
#: Statistics fields that are numbers (the objectives a sweep may maximise).
NUMERIC_STATS: Final = tuple(f.name for f in fields(Statistics)
                             if f.type in ("float | None", "float", "int | None", "int"))
MIN_SEGMENT_BARS: Final = 10


def objective_field(name: str) -> str:
    """The Statistics field that ``--maximize name`` ranks by (ConfigError otherwise)."""
    from engine.state.actions import suggest

    if name in OBJECTIVES:
        return OBJECTIVES[name]
    if name in NUMERIC_STATS:
        return name
    known = [*OBJECTIVES, *NUMERIC_STATS]
    raise ConfigError(
        f"--maximize {name!r}: not a statistic{suggest(name, known)}; "
        f"use one of {', '.join(OBJECTIVES)} or a Statistics field"
    )


@dataclass(frozen=True, kw_only=True)
class SweepConfig:
    """A sweep: ``run`` holds everything every run shares (strategy, feed, symbols,
    costs, limits, shadow mode); ``grid`` the ``--grid`` items; ``where`` the filter;
    ``random`` a sample size (drawn with ``run.seed``); ``maximize`` the objective;
    ``jobs`` the local processes (None: all cores); ``ray`` None (local processes),
    "" (a local Ray) or a cluster address; ``walk_forward`` the number of folds;
    ``heatmap`` the two parameters of the HTML heatmap (default: the first two axes);
    ``html`` / ``json`` the outputs."""

    run: RunConfig
    grid: tuple[str, ...] = ()
    where: str | None = None
    random: int | None = None
    maximize: str = "sharpe"
    jobs: int | None = None
    ray: str | None = None
    walk_forward: int | None = None
    heatmap: tuple[str, str] | None = None
    html: Path | None = None
    json: bool = False

    def __post_init__(self) -> None:
        objective_field(self.maximize)
        if self.run.watch or self.run.strategy_for:
            raise ConfigError("sweep: --watch and --strategy-for do not apply to a sweep")
        for name, value in (("jobs", self.jobs), ("walk_forward", self.walk_forward),
                            ("random", self.random)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                flag = "--" + name.replace("_", "-")
                raise ConfigError(f"{flag} {value!r}: must be a whole number >= 1")
        if self.jobs is not None and self.ray is not None:
            raise ConfigError("sweep: --jobs is for local processes; with --ray, Ray decides")

    @property
    def objective(self) -> str:
        """The Statistics field ranked by."""
        return objective_field(self.maximize)

    @property
    def processes(self) -> int:
        """Local worker processes: ``jobs``, else every core."""
        return self.jobs if self.jobs is not None else max(1, os.cpu_count() or 1)


@dataclass(frozen=True, slots=True)
class Task:
    """One backtest of a sweep: ``params`` on ``symbol``'s bars ``[start, stop)``.
    ``segment``: the walk-forward segment (None without walk-forward);
    ``out_of_sample``: a fold's out-of-sample run (its equity is kept for stitching)."""

    index: int
    params: Mapping[str, ParamValue]
    symbol: str
    start: int
    stop: int
    segment: int | None = None
    out_of_sample: bool = False

    @property
    def key(self) -> str:
        """The task's identity within its sweep (JSON text)."""
        return json.dumps([dict(sorted(self.params.items())), self.symbol, self.start,
                           self.stop, self.out_of_sample], separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class TaskResult:
    """What a task produced. ``status``: finished, or failed (``error`` says why:
    the strategy did not load, was stopped after too many errors, the run failed);
    ``statistics``: the Statistics as a dict (None when the run did not start);
    ``summary`` and ``trades`` as ``RunResult`` has them; ``equity`` the marked
    equity per bar (out-of-sample runs only); ``mismatches`` shadow mode's rows."""

    task: Task
    status: str
    error: str | None = None
    statistics: Mapping[str, Any] | None = None
    summary: Mapping[str, Any] | None = None
    trades: Sequence[Mapping[str, object]] = ()
    equity: Sequence[float] | None = None
    mismatches: Sequence[tuple[object, ...]] = field(default=())
    elapsed_s: float = 0.0
    strategy_sha256: str = ""


def segments(n: int, folds: int) -> list[tuple[int, int]]:
    """The K + 1 walk-forward segments ``[start, stop)`` of ``n`` bars (module docstring)."""
    size = n // (folds + 1)
    if size < MIN_SEGMENT_BARS:
        raise ConfigError(
            f"--walk-forward {folds}: {n} bars make segments of {size} bars; "
            f"each needs at least {MIN_SEGMENT_BARS} (use fewer folds or more bars)"
        )
    bounds = [i * size for i in range(folds + 1)] + [n]
    return list(itertools.pairwise(bounds))


def grid_tasks(
    combos: Sequence[Mapping[str, ParamValue]],
    lengths: Mapping[str, int],
    folds: int | None,
) -> list[Task]:
    """The grid's tasks: every combination × symbol, over the whole series or (walk-
    forward) over each in-sample segment 0..K−1; in a fixed order (symbols, then
    segments, then combinations) that breaks ties in the ranking."""
    tasks: list[Task] = []
    for symbol, n in lengths.items():
        parts = [(0, n, None)] if folds is None else [
            (a, b, i) for i, (a, b) in enumerate(segments(n, folds)[:-1])]
        for start, stop, seg in parts:
            for params in combos:
                tasks.append(Task(len(tasks), dict(params), symbol, start, stop, seg))
    return tasks
