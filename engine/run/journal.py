"""The run journal: an SQLite database (WAL) of everything a run decided (docs/design.md §8).

Records are written as they happen and committed in groups: a closed trade is
committed at once (with every record written since the previous commit) unless
``commit_trades=False`` (a replayed feed: docs/design.md §8), and pending records
are committed at least once a second (``flush_if_due``, called
by the runner after each bar and by a periodic task of the orchestrator). The
database runs in WAL mode with ``synchronous=NORMAL``: a commit is in the WAL
file before ``commit()`` returns, so a process killed with ``kill -9`` loses no
committed record (a power cut may lose the last commits; the run's own data is
reproducible, the journal is not a ledger of real money).

Records queue in memory in the order written and reach SQLite together, one
``executemany`` per run of one kind, when they are committed (or every
WRITE_BATCH records): one insert at a time, between bars, cost ≈ 14 µs a row
(cold caches; 4,493 rows of a 100k-bar sma_crossover backtest: 64 ms of
``execute`` under cProfile), in a batch ≈ 2.5 µs. Nothing is lost by it: a record
was never durable before its commit. Every read first hands the queue over, so
it sees every record written.

Every method takes one lock, so other threads (shadow mode's comparison
worker) may write through the same object, e.g. ``record_mismatch``.

Faults: a file that is not an SQLite database (or is corrupt) is a ConfigError
when it is opened; a file another running Journal holds (an exclusive ``flock``
for the object's lifetime, released by the kernel even after ``kill -9``) is
refused the same way. A write or commit that fails (disk full, I/O error) rolls
back what was pending and raises JournalError naming the path and SQLite's
message (a record SQLite refuses fails the commit that carries it); every
later record raises it again, while ``end_run``, ``flush`` and ``close`` do
nothing, so the run stops and what was committed stays.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from engine.errors import ConfigError, JournalError
from engine.report.stats import TradeRecord

if TYPE_CHECKING:
    from engine.state import Execution

#: The schema this code writes: ``SCHEMA`` is version 1, ``MIGRATIONS[v]`` takes a
#: journal from version v to v + 1 (a new journal runs them all).
SCHEMA_VERSION = 3

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id              INTEGER PRIMARY KEY,
    started_at      TEXT NOT NULL,      -- ISO-8601 UTC
    ended_at        TEXT,               -- NULL while running (or killed)
    status          TEXT NOT NULL,      -- running | finished | interrupted | failed
    command         TEXT NOT NULL,      -- JSON array: the command line
    strategy_path   TEXT NOT NULL,
    strategy_sha256 TEXT NOT NULL,
    params          TEXT NOT NULL,      -- JSON object: effective strategy parameters
    symbols         TEXT NOT NULL,      -- JSON array
    feed            TEXT NOT NULL,
    seed            INTEGER,
    fee_bps         REAL NOT NULL,
    slippage_bps    REAL NOT NULL,
    summary         TEXT                -- JSON: the --json summary, written at the end
);
CREATE TABLE IF NOT EXISTS strategy_versions (
    run_id          INTEGER NOT NULL REFERENCES runs(id),
    symbol          TEXT NOT NULL,
    path            TEXT NOT NULL,
    sha256          TEXT NOT NULL,
    params          TEXT NOT NULL,      -- JSON object
    from_timestamp  INTEGER,            -- first bar (ms) run by this version; NULL = start
    loaded_at       TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS trades (
    id              INTEGER PRIMARY KEY,
    run_id          INTEGER NOT NULL REFERENCES runs(id),
    symbol          TEXT NOT NULL,
    side            TEXT NOT NULL,      -- long | short
    quantity        REAL NOT NULL,
    entry_timestamp INTEGER NOT NULL,   -- bar open time, ms since epoch UTC
    entry_price     REAL NOT NULL,
    exit_timestamp  INTEGER NOT NULL,
    exit_price      REAL NOT NULL,
    exit_reason     TEXT NOT NULL,
    fees            REAL NOT NULL,
    pnl             REAL NOT NULL       -- realized, net of both fees
);
CREATE TABLE IF NOT EXISTS transitions (
    id              INTEGER PRIMARY KEY,
    run_id          INTEGER NOT NULL REFERENCES runs(id),
    symbol          TEXT NOT NULL,
    timestamp       INTEGER NOT NULL,
    from_state      TEXT NOT NULL,
    to_state        TEXT NOT NULL,
    reason          TEXT NOT NULL,      -- detect_opportunity, an action name, stop_loss, ...
    note            TEXT                -- the action's optional free-text reason
);
CREATE TABLE IF NOT EXISTS strategy_errors (
    id              INTEGER PRIMARY KEY,
    run_id          INTEGER NOT NULL REFERENCES runs(id),
    symbol          TEXT NOT NULL,
    timestamp       INTEGER,            -- bar time; NULL for a failed reload
    kind            TEXT NOT NULL,      -- call | reload | stopped
    message         TEXT NOT NULL,
    consecutive     INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rejected_bars (
    id              INTEGER PRIMARY KEY,
    run_id          INTEGER NOT NULL REFERENCES runs(id),
    symbol          TEXT,
    timestamp       INTEGER,
    source          TEXT NOT NULL,      -- feed | window
    kind            TEXT NOT NULL,      -- malformed | invalid | conflict | out_of_order
    location        TEXT,               -- file:line, or ws/rest plus the shortened message
    reason          TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS shadow_mismatches (
    id              INTEGER PRIMARY KEY,
    run_id          INTEGER NOT NULL REFERENCES runs(id),
    symbol          TEXT NOT NULL,
    timestamp       INTEGER NOT NULL,
    indicator       TEXT NOT NULL,
    params          TEXT NOT NULL,      -- JSON array
    output          TEXT NOT NULL,
    python_value    REAL,
    ocaml_value     REAL,
    scaled_error    REAL,
    ulp_distance    INTEGER,
    recorded_at     TEXT NOT NULL
);
"""
# No secondary indexes: rows are appended in run order, and each index would add
# pages to every per-trade commit (measured ≈ 40 % of the journal's cost).

# -- schema 2 (the report, issue 13): the equity series, exact statistics, trade facts --
# Points are stored as blobs (engine/run/equity.py): a row per bar costs ≈ 2 µs a bar
# in SQLite, seven times the equity journal's budget of 0.3 µs.
_MIGRATION_2 = """
ALTER TABLE runs ADD COLUMN starting_equity REAL;     -- equity before the first bar
ALTER TABLE runs ADD COLUMN interval_ms INTEGER;      -- the configured bar interval
ALTER TABLE trades ADD COLUMN entry_reason TEXT;      -- entry action's reason, else its name
ALTER TABLE trades ADD COLUMN exit_note TEXT;         -- exit action's reason text
ALTER TABLE trades ADD COLUMN slippage REAL;          -- slippage cost of both fills
ALTER TABLE trades ADD COLUMN bars_held INTEGER;      -- bars after the entry bar to the exit
ALTER TABLE trades ADD COLUMN mae_pct REAL;           -- worst excursion, % of entry (<= 0)
ALTER TABLE trades ADD COLUMN mfe_pct REAL;           -- best excursion, % of entry (>= 0)
ALTER TABLE trades ADD COLUMN stop_loss REAL;         -- levels set when it closed
ALTER TABLE trades ADD COLUMN take_profit REAL;
CREATE TABLE equity_series (
    run_id          INTEGER NOT NULL REFERENCES runs(id),
    symbol          TEXT NOT NULL,
    kind            TEXT NOT NULL,      -- equity | price
    seq             INTEGER NOT NULL,   -- chunk order: a series' points in time order
    bucket_bars     INTEGER NOT NULL,   -- bars per downsample bucket (1: a point per bar)
    points          INTEGER NOT NULL,   -- rows in the blob
    data            BLOB NOT NULL,      -- float64 little-endian, points x columns:
                                        -- equity: timestamp, equity, drawdown
                                        -- price: timestamp, open, high, low, close
    PRIMARY KEY (run_id, symbol, kind, seq)
);
CREATE TABLE run_stats (
    run_id          INTEGER NOT NULL REFERENCES runs(id),
    symbol          TEXT NOT NULL,
    interval_ms     INTEGER NOT NULL,   -- the bar interval the statistics annualise by
    statistics      TEXT NOT NULL,      -- JSON: engine.report.stats.Statistics (null = undefined)
    PRIMARY KEY (run_id, symbol)
);
"""

#: Version 3 (issue 12): how the run executed orders (its cash is ``starting_equity``).
_MIGRATION_3 = """
ALTER TABLE runs ADD COLUMN fill TEXT;                -- close | next-open
ALTER TABLE runs ADD COLUMN leverage REAL;            -- NULL: no cash check
"""

MIGRATIONS: dict[int, str] = {1: _MIGRATION_2, 2: _MIGRATION_3}

#: The ``trades`` columns (besides ``id``, ``run_id``): the symbol, then the fields of
#: engine.report.stats.TradeRecord, the one home of what a closed trade is.
TRADE_COLUMNS = ("symbol", *(f.name for f in fields(TradeRecord)))
_INSERT_TRADE = (f"INSERT INTO trades (run_id, {', '.join(TRADE_COLUMNS)})"
                 f" VALUES ({', '.join('?' * (len(TRADE_COLUMNS) + 1))})")


#: Longest a written record may stay uncommitted (docs/design.md §8: one second).
FLUSH_INTERVAL_S = 1.0
#: Most records queued in memory before they are handed to SQLite (uncommitted):
#: bounds the queue of a replay that transitions on every bar.
WRITE_BATCH = 4096


def utc_now() -> str:
    """The current time as ISO-8601 UTC with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Journal:
    """One SQLite journal file; one ``run`` row per ``start_run``."""

    def __init__(self, path: str | Path, *, flush_interval_s: float = FLUSH_INTERVAL_S,
                 reader: bool = False, commit_trades: bool = True) -> None:
        """Open (creating or migrating) the journal at ``path``. A writer holds it
        exclusively; ``reader=True`` (``report``) takes no lock, so a run still
        writing the file can be reported (SQLite's WAL lets readers in).
        ``commit_trades=False``: a closed trade waits for the next commit like any
        record (at most ``flush_interval_s``)."""
        self.path = Path(path)
        self._commit_trades = commit_trades
        self._lock = threading.Lock()
        self._flush_interval = flush_interval_s
        #: records written but not yet committed
        self.pending = 0
        #: records not yet handed to SQLite: (statement, rows) runs in write order
        self._queue: list[tuple[str, list[tuple[object, ...]]]] = []
        self._queued = 0
        #: time.monotonic() by which the pending records must be committed
        self.flush_deadline = 0.0
        self.run_id: int | None = None
        #: the write error that stopped the journal (None while it works)
        self.failed: JournalError | None = None
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False)
            # an in-memory journal (a sweep run's, copied out when it ends) has no file
            self._hold = (None if reader or str(self.path) == ":memory:"
                          else _hold_exclusively(self.path, self._db))
            # Rows are ~100 bytes and every closed trade commits a few of them: a
            # commit writes whole pages to the WAL, so small pages write (and later
            # checkpoint) a quarter of the bytes of the 4 KiB default: ≈ 25 % less
            # journal time. Only applies to a new file (before its first table).
            self._db.execute("PRAGMA page_size=1024")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.Error as exc:
            with contextlib.suppress(AttributeError, sqlite3.Error):
                self._db.close()
            raise ConfigError(f"--journal {self.path}: cannot open as SQLite: {exc}") from exc

    def _migrate(self) -> None:
        """Bring the file to ``SCHEMA_VERSION``: create it, or add what later versions
        added, one step per version, each in one transaction. A newer file is refused."""
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            raise ConfigError(
                f"--journal {self.path}: journal schema version {version} is newer than "
                f"this Tandem's ({SCHEMA_VERSION}); open it with a Tandem that reads "
                f"schema version {version}"
            )
        if version == 0:
            self._db.executescript(SCHEMA)
            version = 1
        for v in range(version, SCHEMA_VERSION):
            self._db.executescript(f"BEGIN; {MIGRATIONS[v]} PRAGMA user_version={v + 1}; COMMIT;")
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    # -- run rows ---------------------------------------------------------------

    def start_run(
        self,
        *,
        command: Sequence[str],
        strategy_path: str,
        strategy_sha256: str,
        params: Mapping[str, object],
        symbols: Sequence[str],
        feed: str,
        seed: int | None,
        fee_bps: float,
        slippage_bps: float,
        starting_equity: float | None = None,
        interval_ms: int | None = None,
        execution: Execution | None = None,
    ) -> int:
        """Insert the ``runs`` row (status "running"), commit it and return its id.
        ``execution``: the run's fill mode, cash (its starting equity, which then
        wins over ``starting_equity``) and leverage (None: not recorded)."""
        ex = execution
        with self._lock, self._writing("starting the run"):
            self._drain()
            cur = self._db.execute(
                "INSERT INTO runs (started_at, status, command, strategy_path, strategy_sha256,"
                " params, symbols, feed, seed, fee_bps, slippage_bps, starting_equity,"
                " interval_ms, fill, leverage)"
                " VALUES (?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    utc_now(),
                    json.dumps(list(command)),
                    strategy_path,
                    strategy_sha256,
                    json.dumps(dict(params), sort_keys=True, default=str),
                    json.dumps(list(symbols)),
                    feed,
                    seed,
                    fee_bps,
                    slippage_bps,
                    ex.cash if ex is not None else starting_equity,
                    interval_ms,
                    None if ex is None else str(ex.fill),
                    None if ex is None else ex.leverage,
                ),
            )
            run_id = cur.lastrowid
            assert run_id is not None
            self.run_id = run_id
            self._commit()
            return run_id

    def end_run(self, status: str, summary: Mapping[str, object]) -> None:
        """Close the run row with its status and JSON summary, and commit everything
        (nothing once a write failed)."""
        with self._lock:
            if self.failed is not None:
                return
            with self._writing("ending the run"):
                self._end_run(status, summary)

    def _end_run(self, status: str, summary: Mapping[str, object]) -> None:
        self._drain()
        self._db.execute(
            "UPDATE runs SET ended_at = ?, status = ?, summary = ? WHERE id = ?",
            (utc_now(), status, json.dumps(summary, default=str), self._run()),
        )
        self._commit()

    # -- records ----------------------------------------------------------------

    def record_strategy_version(
        self,
        symbol: str,
        path: str,
        sha256: str,
        params: Mapping[str, object],
        from_timestamp: int | None,
    ) -> None:
        """A strategy version starts running for ``symbol`` (at start or after a reload)."""
        self._write(
            "INSERT INTO strategy_versions VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                self._run(),
                symbol,
                path,
                sha256,
                json.dumps(dict(params), sort_keys=True, default=str),
                from_timestamp,
                utc_now(),
            ),
        )

    def record_trade(self, symbol: str, trade: TradeRecord) -> None:
        """A closed trade of ``symbol``; committed at once with everything pending
        (unless ``commit_trades`` is off)."""
        values = [getattr(trade, name) for name in TRADE_COLUMNS[1:]]
        self._write(_INSERT_TRADE, (self._run(), symbol, *values))
        if self._commit_trades:
            with self._lock, self._writing("recording a trade"):
                self._commit()

    def record_transition(
        self,
        symbol: str,
        timestamp: int,
        from_state: str,
        to_state: str,
        reason: str,
        note: str | None = None,
    ) -> None:
        """A state transition of ``symbol``'s machine."""
        self._write(
            "INSERT INTO transitions (run_id, symbol, timestamp, from_state, to_state, reason,"
            " note) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (self._run(), symbol, timestamp, from_state, to_state, reason, note),
        )

    def record_strategy_error(
        self, symbol: str, timestamp: int | None, kind: str, message: str, consecutive: int
    ) -> None:
        """A strategy call failed (kind "call"), a reload failed ("reload"), or the
        symbol's strategy was stopped ("stopped")."""
        self._write(
            "INSERT INTO strategy_errors (run_id, symbol, timestamp, kind, message, consecutive)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (self._run(), symbol, timestamp, kind, message, consecutive),
        )

    def record_rejected_bar(
        self,
        symbol: str | None,
        timestamp: int | None,
        *,
        source: str,
        kind: str,
        location: str | None,
        reason: str,
    ) -> None:
        """An input record the feed or the window refused."""
        self._write(
            "INSERT INTO rejected_bars (run_id, symbol, timestamp, source, kind, location, reason)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (self._run(), symbol, timestamp, source, kind, location, reason),
        )

    def record_mismatch(
        self,
        symbol: str,
        timestamp: int,
        indicator: str,
        params: Sequence[int | float],
        output: str,
        python_value: float | None,
        ocaml_value: float | None,
        scaled_error: float | None,
        ulp_distance: int | None,
    ) -> None:
        """A shadow-mode disagreement (thread-safe; called from shadow's worker)."""
        self._write(
            "INSERT INTO shadow_mismatches (run_id, symbol, timestamp, indicator, params,"
            " output, python_value, ocaml_value, scaled_error, ulp_distance, recorded_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self._run(),
                symbol,
                timestamp,
                indicator,
                json.dumps(list(params)),
                output,
                python_value,
                ocaml_value,
                scaled_error,
                ulp_distance,
                utc_now(),
            ),
        )

    # -- schema 2: the equity series and the statistics (the report) -------------

    def write_series(self, symbol: str, kind: str, bucket: int,
                     points: npt.NDArray[np.float64], *, replace: bool) -> None:
        """Append a chunk of ``symbol``'s ``kind`` series (rows of engine/run/equity.py's
        EQUITY_COLUMNS or PRICE_COLUMNS), or with ``replace`` make it the whole series
        (after a merge). Committed with the next commit."""
        data = np.ascontiguousarray(points, dtype="<f8")
        with self._lock, self._writing("writing a series"):
            self._drain()
            run_id = self._run()
            key = (run_id, symbol, kind)
            if replace:
                self._db.execute("DELETE FROM equity_series WHERE run_id = ? AND symbol = ?"
                                 " AND kind = ?", key)
            (seq,) = self._db.execute(
                "SELECT COALESCE(MAX(seq) + 1, 0) FROM equity_series WHERE run_id = ?"
                " AND symbol = ? AND kind = ?", key).fetchone()
        self._write("INSERT INTO equity_series VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (*key, seq, bucket, data.shape[0], data.tobytes()))

    def record_run_stats(self, symbol: str, interval_ms: int,
                         statistics: Mapping[str, object]) -> None:
        """The statistics of ``symbol``'s whole run (computed from every bar)."""
        text = json.dumps(dict(statistics), allow_nan=False, separators=(",", ":"))
        self._write("INSERT OR REPLACE INTO run_stats VALUES (?, ?, ?, ?)",
                    (self._run(), symbol, interval_ms, text))

    def series(self, run_id: int, symbol: str, kind: str,
               columns: int) -> tuple[int, npt.NDArray[np.float64]]:
        """(bars per bucket, points × ``columns``) of a stored series; (1, no rows) if none."""
        with self._lock:
            self._hand_over()
            rows = self._db.execute(
                "SELECT bucket_bars, points, data FROM equity_series WHERE run_id = ?"
                " AND symbol = ? AND kind = ? ORDER BY seq", (run_id, symbol, kind)).fetchall()
        chunks = [np.frombuffer(data, dtype="<f8").reshape(n, columns) for _, n, data in rows]
        if not chunks:
            return 1, np.empty((0, columns))
        return int(rows[-1][0]), np.concatenate(chunks).astype(np.float64)

    def run_stats(self, run_id: int) -> dict[str, tuple[int, dict[str, Any]]]:
        """Symbol → (interval_ms, statistics) of a run that wrote them (a finished one)."""
        with self._lock:
            self._hand_over()
            rows = self._db.execute("SELECT symbol, interval_ms, statistics FROM run_stats"
                                    " WHERE run_id = ?", (run_id,)).fetchall()
        return {sym: (int(iv), json.loads(text)) for sym, iv, text in rows}

    def run_row(self, run_id: int) -> dict[str, object] | None:
        """The ``runs`` row of ``run_id`` keyed by column, or None."""
        with self._lock:
            self._hand_over()
            cursor = self._db.execute("SELECT * FROM runs WHERE id = ?", (run_id,))
            row = cursor.fetchone()
            names = [d[0] for d in cursor.description]
        return None if row is None else dict(zip(names, row, strict=True))

    def run_ids(self, limit: int | None = None) -> list[int]:
        """The runs' ids, newest first (at most ``limit``)."""
        with self._lock:
            self._hand_over()
            rows = self._db.execute("SELECT id FROM runs ORDER BY id DESC LIMIT ?",
                                    (-1 if limit is None else limit,)).fetchall()
        return [int(r[0]) for r in rows]

    def mismatches(self, run_id: int) -> list[dict[str, object]]:
        """The shadow-mode mismatches of ``run_id`` in the order they were recorded."""
        with self._lock:
            self._hand_over()
            cursor = self._db.execute(
                "SELECT symbol, timestamp, indicator, params, output, python_value,"
                " ocaml_value, scaled_error, ulp_distance FROM shadow_mismatches"
                " WHERE run_id = ? ORDER BY id", (run_id,))
            names = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        return [dict(zip(names, row, strict=True)) for row in rows]

    # -- reading back -----------------------------------------------------------

    def trades(self, run_id: int) -> list[dict[str, object]]:
        """The closed trades of ``run_id`` in the order they closed, one dict per row
        keyed by the ``trades`` table's columns (``id`` and ``run_id`` left out)."""
        with self._lock:
            self._hand_over()
            sql = "SELECT * FROM trades WHERE run_id = ? ORDER BY id"
            cursor = self._db.execute(sql, (run_id,))
            names = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        keep = [i for i, name in enumerate(names) if name not in ("id", "run_id")]
        return [{names[i]: row[i] for i in keep} for row in rows]

    # -- commits ----------------------------------------------------------------

    def flush_if_due(self) -> None:
        """Commit pending records when the oldest may be a second old (cheap otherwise)."""
        if self.pending and time.monotonic() >= self.flush_deadline:
            self.flush()

    def flush(self) -> None:
        """Commit every pending record now (nothing once a write failed)."""
        with self._lock:
            if self.failed is None:
                with self._writing("committing"):
                    self._commit()

    def close(self) -> None:
        """Commit (unless a write failed) and close the database and its hold."""
        with self._lock:
            try:
                if self.failed is None:
                    with self._writing("closing"):
                        self._commit()
            finally:
                with contextlib.suppress(sqlite3.Error):
                    self._db.close()
                if self._hold is not None:
                    os.close(self._hold)

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- internals --------------------------------------------------------------

    def _run(self) -> int:
        if self.run_id is None:
            raise RuntimeError("Journal.start_run must come before any record")
        return self.run_id

    def _write(self, sql: str, row: tuple[object, ...]) -> None:
        """Queue ``row`` for ``sql`` (see the module docstring: handed to SQLite at the
        commit, or after WRITE_BATCH records)."""
        with self._lock:
            if self.failed is not None:
                raise self.failed
            self._count_pending()
            queue = self._queue
            if queue and queue[-1][0] == sql:
                queue[-1][1].append(row)
            else:
                queue.append((sql, [row]))
            self._queued += 1
            if self._queued >= WRITE_BATCH:
                self._hand_over()

    def _drain(self) -> None:
        """Hand the queued records to SQLite in the order written (under the lock,
        inside ``_writing``)."""
        queue, self._queue, self._queued = self._queue, [], 0
        for sql, rows in queue:
            self._db.executemany(sql, rows)

    def _hand_over(self) -> None:
        """The queued records into SQLite, uncommitted (before a read, so that it sees
        them, and when WRITE_BATCH wait); a failure stops the journal as a failed
        write does."""
        if self._queue and self.failed is None:
            with self._writing("writing records"):
                self._drain()

    def _count_pending(self) -> None:
        """One more record to commit (the first one starts the flush deadline)."""
        if self.pending == 0:
            self.flush_deadline = time.monotonic() + self._flush_interval
        self.pending += 1

    @contextlib.contextmanager
    def _writing(self, what: str) -> Iterator[None]:
        """Turn an SQLite error into JournalError (see the module docstring)."""
        if self.failed is not None:
            raise self.failed
        try:
            yield
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                self._db.rollback()
            self.pending = 0
            self._queue, self._queued = [], 0
            self.failed = JournalError(
                f"journal {self.path}: {what} failed: {exc}; the run stops here "
                "(every record committed before is kept)"
            )
            raise self.failed from exc

    def _commit(self) -> None:
        self._drain()
        self._db.commit()
        self.pending = 0


def _hold_exclusively(path: Path, db: sqlite3.Connection) -> int:
    """An fd of ``path`` holding an exclusive flock (SQLite's own locks are fcntl
    locks, which flock does not touch); ConfigError when another Journal has it."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        db.close()
        raise ConfigError(
            f"--journal {path}: another running Tandem run is writing this journal; "
            "wait for it to end or give this run another --journal file"
        ) from None
    return fd
