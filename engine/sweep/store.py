"""A sweep in the journal file: the ``sweeps`` and ``sweep_runs`` tables, and its runs.

The journal's own schema (``engine.run.journal``) is created first, by opening the
file as a Journal; the sweep's tables are a separate step (``SWEEP_SCHEMA``, CREATE
TABLE IF NOT EXISTS) that a plain ``run`` never needs:

* ``sweeps``, one row per sweep: its ``fingerprint`` (sha256 of everything that
  decides its runs), times, ``status`` (running, finished, interrupted, failed),
  ``command``, ``spec`` (JSON), ``tasks`` and ``summary`` (JSON: the ranked result);
* ``sweep_runs``, one row per recorded task: ``task_key``, ``run_id`` (its ``runs``
  row; NULL when the run could not start), ``symbol``, ``params``, the bar slice
  (``first_bar``, ``last_bar`` excluded, ``segment``, ``out_of_sample``), ``status``
  (finished, failed), ``error``, ``statistics`` (JSON), ``equity`` (float64 bytes,
  out-of-sample runs only) and ``elapsed_s`` (see SWEEP_SCHEMA).

Each run of a sweep runs with an in-memory journal where it runs (a worker process,
a Ray node); its result is written here by the sweep's process in one transaction:
the ``runs`` row (as ``run`` writes it; ``command`` is the sweep's), its ``trades``,
its ``shadow_mismatches`` and its ``sweep_runs`` row. A task is therefore either
wholly recorded or not at all, and a sweep killed at any point resumes exactly: the
same command finds the sweep by its fingerprint and runs only the tasks without a
row. (Transitions and per-call strategy errors of sweep runs are not journaled; the
run's summary counts them.)
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import ConfigError
from engine.run.journal import Journal, utc_now
from engine.sweep.plan import TaskResult

SWEEP_SCHEMA = """
CREATE TABLE IF NOT EXISTS sweeps (
    id              INTEGER PRIMARY KEY,
    fingerprint     TEXT NOT NULL UNIQUE,
    started_at      TEXT NOT NULL,
    ended_at        TEXT,
    status          TEXT NOT NULL,      -- running | finished | interrupted | failed
    command         TEXT NOT NULL,      -- JSON array
    spec            TEXT NOT NULL,      -- JSON object
    tasks           INTEGER NOT NULL,
    summary         TEXT                -- JSON: the ranked result
);
CREATE TABLE IF NOT EXISTS sweep_runs (
    sweep_id        INTEGER NOT NULL REFERENCES sweeps(id),
    task_key        TEXT NOT NULL,
    run_id          INTEGER REFERENCES runs(id),
    symbol          TEXT NOT NULL,
    params          TEXT NOT NULL,      -- JSON object: the grid's values
    segment         INTEGER,            -- walk-forward segment; NULL without
    first_bar       INTEGER NOT NULL,
    last_bar        INTEGER NOT NULL,   -- excluded
    out_of_sample   INTEGER NOT NULL,
    status          TEXT NOT NULL,      -- finished | failed
    error           TEXT,
    statistics      TEXT,               -- JSON object (null = undefined)
    equity          BLOB,               -- float64 marks, out-of-sample runs only
    elapsed_s       REAL NOT NULL,
    PRIMARY KEY (sweep_id, task_key)
);
"""

#: sqlite3's wait for a lock held by another writer (e.g. a second sweep)
BUSY_TIMEOUT_S = 30.0


class SweepStore:
    """The sweep tables of one journal file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        Journal(self.path).close()  # the journal's own schema, by its one home
        try:
            self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S)
            self._db.executescript(SWEEP_SCHEMA)
        except sqlite3.Error as exc:
            raise ConfigError(f"--journal {self.path}: cannot add the sweep tables: {exc}") from exc

    def close(self) -> None:
        self._db.close()

    def open_sweep(
        self, fingerprint: str, command: Sequence[str], spec: Mapping[str, Any], tasks: int
    ) -> tuple[int, bool]:
        """The sweep of ``fingerprint``: (id, True) when it exists (resumed), else a
        new row (id, False). Either way its status becomes running."""
        with self._db:
            row = self._db.execute("SELECT id FROM sweeps WHERE fingerprint = ?",
                                   (fingerprint,)).fetchone()
            if row is not None:
                self._db.execute("UPDATE sweeps SET status = 'running', ended_at = NULL, "
                                 "tasks = ? WHERE id = ?", (tasks, row[0]))
                return int(row[0]), True
            cur = self._db.execute(
                "INSERT INTO sweeps (fingerprint, started_at, status, command, spec, tasks)"
                " VALUES (?, ?, 'running', ?, ?, ?)",
                (fingerprint, utc_now(), json.dumps(list(command)), json.dumps(spec), tasks))
            assert cur.lastrowid is not None
            return int(cur.lastrowid), False

    def end_sweep(self, sweep_id: int, status: str, summary: Mapping[str, Any] | None) -> None:
        """Close the sweep row with its status and result."""
        with self._db:
            self._db.execute(
                "UPDATE sweeps SET status = ?, ended_at = ?, summary = ? WHERE id = ?",
                (status, utc_now(), None if summary is None else json.dumps(summary), sweep_id))

    def done(self, sweep_id: int) -> dict[str, dict[str, Any]]:
        """task_key → its recorded row (run_id, status, error, statistics, equity…)."""
        cur = self._db.execute(
            "SELECT task_key, run_id, status, error, statistics, equity, elapsed_s"
            " FROM sweep_runs WHERE sweep_id = ?", (sweep_id,))
        out: dict[str, dict[str, Any]] = {}
        for key, run_id, status, error, stats, equity, elapsed in cur:
            out[key] = {
                "run_id": run_id, "status": status, "error": error,
                "statistics": None if stats is None else json.loads(stats),
                "equity": None if equity is None else np.frombuffer(equity, "<f8").tolist(),
                "elapsed_s": elapsed,
            }
        return out

    def record(
        self,
        sweep_id: int,
        result: TaskResult,
        *,
        command: Sequence[str],
        strategy_path: str,
        params: Mapping[str, object],
        feed: str,
        seed: int | None,
        fee_bps: float,
        slippage_bps: float,
    ) -> int | None:
        """Journal one task's run and its sweep row in one transaction; the run id
        (None when the run never started). ``params``: the effective parameters."""
        task = result.task
        with self._db:
            run_id = None
            if result.summary is not None:
                run_id = self._run_row(result, command, strategy_path, params, feed, seed,
                                       fee_bps, slippage_bps)
            equity = None if result.equity is None else \
                np.asarray(result.equity, dtype="<f8").tobytes()
            self._db.execute(
                "INSERT OR REPLACE INTO sweep_runs VALUES"
                " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (sweep_id, task.key, run_id, task.symbol,
                 json.dumps(dict(task.params), sort_keys=True), task.segment, task.start,
                 task.stop, int(task.out_of_sample), result.status, result.error,
                 None if result.statistics is None else json.dumps(result.statistics),
                 equity, result.elapsed_s))
        return run_id

    def _run_row(
        self, result: TaskResult, command: Sequence[str], strategy_path: str,
        params: Mapping[str, object], feed: str, seed: int | None, fee_bps: float,
        slippage_bps: float,
    ) -> int:
        summary = dict(result.summary or {})
        now = utc_now()
        cur = self._db.execute(
            "INSERT INTO runs (started_at, ended_at, status, command, strategy_path,"
            " strategy_sha256, params, symbols, feed, seed, fee_bps, slippage_bps, summary)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (now, now, summary.get("status", result.status), json.dumps(list(command)),
             strategy_path, result.strategy_sha256,
             json.dumps(dict(params), sort_keys=True, default=str),
             json.dumps([result.task.symbol]), feed, seed, fee_bps, slippage_bps, None))
        run_id = cur.lastrowid
        assert run_id is not None
        summary["run_id"] = run_id
        summary["journal"] = str(self.path)
        self._db.execute("UPDATE runs SET summary = ? WHERE id = ?",
                         (json.dumps(summary, default=str), run_id))
        if result.trades:
            names = list(result.trades[0])
            self._db.executemany(
                f"INSERT INTO trades (run_id, {', '.join(names)})"
                f" VALUES (?{', ?' * len(names)})",
                [(run_id, *(t[n] for n in names)) for t in result.trades])
        if result.mismatches:
            self._db.executemany(
                "INSERT INTO shadow_mismatches (run_id, symbol, timestamp, indicator, params,"
                " output, python_value, ocaml_value, scaled_error, ulp_distance, recorded_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(run_id, *row[:3], json.dumps(list(row[3])), *row[4:9], now)  # type: ignore[call-overload]
                 for row in result.mismatches])
        return run_id

    def sweep_row(self, sweep_id: int) -> dict[str, Any] | None:
        """The ``sweeps`` row as a dict (spec and summary parsed), or None."""
        cur = self._db.execute("SELECT * FROM sweeps WHERE id = ?", (sweep_id,))
        row = cur.fetchone()
        if row is None:
            return None
        out = dict(zip([d[0] for d in cur.description], row, strict=True))
        for name in ("spec", "summary", "command"):
            if out[name] is not None:
                out[name] = json.loads(out[name])
        return out
