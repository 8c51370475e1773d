"""Walk-forward: the best in-sample combination of each fold, run out of sample.

The folds and segments are defined in ``engine.sweep.plan`` (rolling, in-sample
segment k−1, out-of-sample segment k, equal lengths). Per symbol and fold, the
in-sample run with the highest objective (ties: the earlier combination in grid
order) gives the combination that runs out of sample. The stitched out-of-sample
equity chains the folds' out-of-sample runs by their returns: fold k's marks are
scaled by (stitched equity at the end of fold k−1) / (starting equity), so the
curve is what one account would have shown trading each fold's choice in turn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.sweep.plan import Task, segments
from engine.sweep.worker import STARTING_EQUITY


@dataclass(frozen=True, slots=True)
class Row:
    """A recorded task with its statistics (None when it failed)."""

    task: Task
    status: str
    error: str | None
    statistics: Mapping[str, Any] | None
    run_id: int | None = None
    equity: Sequence[float] | None = None

    def objective(self, name: str) -> float | None:
        """The objective's value, None when the run failed or it is undefined."""
        if self.statistics is None or self.status != "finished":
            return None
        value = self.statistics.get(name)
        return None if value is None else float(value)


def best(rows: Sequence[Row], objective: str) -> Row | None:
    """The row with the highest defined objective (earliest task on ties), or None."""
    scored = [r for r in rows if r.objective(objective) is not None]
    if not scored:
        return None
    return min(scored, key=lambda r: (-(r.objective(objective) or 0.0), r.task.index))


def oos_tasks(
    rows: Sequence[Row], lengths: Mapping[str, int], folds: int, objective: str, first_index: int
) -> list[Task]:
    """One out-of-sample task per symbol and fold whose in-sample part has a best row."""
    out: list[Task] = []
    for symbol, n in lengths.items():
        parts = segments(n, folds)
        for k in range(1, folds + 1):
            chosen = best([r for r in rows if r.task.symbol == symbol
                           and r.task.segment == k - 1 and not r.task.out_of_sample], objective)
            if chosen is None:
                continue
            start, stop = parts[k]
            out.append(Task(first_index + len(out), dict(chosen.task.params), symbol, start,
                            stop, k, out_of_sample=True))
    return out


def folds_report(
    rows: Sequence[Row], lengths: Mapping[str, int], folds: int, objective: str
) -> dict[str, Any]:
    """Per symbol: each fold's chosen params, in-sample vs out-of-sample statistics,
    and the stitched out-of-sample equity (one value per out-of-sample bar)."""
    report: dict[str, Any] = {}
    for symbol, n in lengths.items():
        parts = segments(n, folds)
        fold_rows: list[dict[str, Any]] = []
        stitched: list[float] = []
        level = STARTING_EQUITY
        for k in range(1, folds + 1):
            chosen = best([r for r in rows if r.task.symbol == symbol
                           and r.task.segment == k - 1 and not r.task.out_of_sample], objective)
            oos = None if chosen is None else next(
                (r for r in rows if r.task.out_of_sample and r.task.symbol == symbol
                 and r.task.segment == k and dict(r.task.params) == dict(chosen.task.params)),
                None)
            fold_rows.append({
                "fold": k,
                "in_sample_bars": list(parts[k - 1]),
                "out_of_sample_bars": list(parts[k]),
                "params": None if chosen is None else dict(chosen.task.params),
                "in_sample": None if chosen is None else chosen.statistics,
                "out_of_sample": None if oos is None else oos.statistics,
                "out_of_sample_status": None if oos is None else oos.status,
                "in_sample_run_id": None if chosen is None else chosen.run_id,
                "out_of_sample_run_id": None if oos is None else oos.run_id,
            })
            if oos is not None and oos.equity:
                scale = level / STARTING_EQUITY
                stitched.extend(e * scale for e in oos.equity)
                level = stitched[-1]
        report[symbol] = {"folds": fold_rows, "stitched_equity": stitched,
                          "stitched_return_pct": (level / STARTING_EQUITY - 1.0) * 100.0
                          if stitched else None}
    return report
