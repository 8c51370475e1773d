"""The SQLite journal: schema, commit policy, thread safety, bad paths."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest

from engine.errors import ConfigError
from engine.report.stats import TradeRecord
from engine.run.journal import Journal

TABLES = {
    "runs",
    "strategy_versions",
    "trades",
    "transitions",
    "strategy_errors",
    "rejected_bars",
    "shadow_mismatches",
}


def _start(journal: Journal) -> int:
    return journal.start_run(
        command=["python", "-m", "engine", "run"],
        strategy_path="s.lua",
        strategy_sha256="ab" * 32,
        params={"fast": 20},
        symbols=["BTCUSDT"],
        feed="sim",
        seed=7,
        fee_bps=10.0,
        slippage_bps=0.0,
    )


def _trade(journal: Journal, pnl: float = 1.5) -> None:
    journal.record_trade("BTCUSDT", TradeRecord(
        side="long",
        quantity=2.0,
        entry_timestamp=60_000,
        entry_price=100.0,
        exit_timestamp=120_000,
        exit_price=101.0,
        exit_reason="take_profit",
        fees=0.5,
        pnl=pnl,
    ))


def _count(path: Path, table: str) -> int:
    """Rows visible to an independent reader (committed rows only)."""
    with sqlite3.connect(path) as db:
        (n,) = db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
    return int(n)


def test_schema_has_every_table_and_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    Journal(path).close()
    with sqlite3.connect(path) as db:
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        (mode,) = db.execute("PRAGMA journal_mode").fetchone()
    assert names >= TABLES
    assert mode == "wal"


def test_run_row_is_committed_at_start_and_closed_at_end(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = Journal(path)
    run_id = _start(journal)
    with sqlite3.connect(path) as db:
        status, ended, command, params = db.execute(
            "SELECT status, ended_at, command, params FROM runs WHERE id = ?", (run_id,)
        ).fetchone()
    assert (status, ended) == ("running", None)
    assert json.loads(command)[-1] == "run"
    assert json.loads(params) == {"fast": 20}
    journal.end_run("finished", {"trades": 0})
    journal.close()
    with sqlite3.connect(path) as db:
        status, ended, summary = db.execute(
            "SELECT status, ended_at, summary FROM runs WHERE id = ?", (run_id,)
        ).fetchone()
    assert status == "finished" and ended is not None
    assert json.loads(summary) == {"trades": 0}


def test_trade_commits_itself_and_everything_pending(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = Journal(path, flush_interval_s=3600.0)
    _start(journal)
    journal.record_transition("BTCUSDT", 60_000, "idle", "analyzing", "signal")
    journal.flush_if_due()  # not due for an hour: still uncommitted
    assert _count(path, "transitions") == 0
    _trade(journal)
    assert _count(path, "trades") == 1
    assert _count(path, "transitions") == 1
    journal.close()


def test_without_commit_trades_a_trade_waits_for_the_flush(tmp_path: Path) -> None:
    """A replayed feed's journal (docs/design.md §8): trades commit with the rest."""
    path = tmp_path / "j.sqlite"
    journal = Journal(path, flush_interval_s=3600.0, commit_trades=False)
    _start(journal)
    _trade(journal)
    assert _count(path, "trades") == 0 and journal.pending == 1
    journal.flush_if_due()  # not due for an hour
    assert _count(path, "trades") == 0
    journal.flush()
    assert _count(path, "trades") == 1 and journal.pending == 0
    journal.close()


def test_a_replayed_run_journals_every_trade_at_its_end(tmp_path: Path) -> None:
    from engine.run import backtest
    from engine.run.config import RunConfig

    config = RunConfig(strategy=Path("strategies/sma_crossover.lua"), feed="sim", bars=3000,
                       journal=tmp_path / "j.sqlite")
    result = backtest(config)
    assert result.summary["trades"] == _count(tmp_path / "j.sqlite", "trades") > 0


def test_pending_records_commit_once_due(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = Journal(path, flush_interval_s=0.0)
    _start(journal)
    journal.record_strategy_error("BTCUSDT", 60_000, "call", "s.lua:3: boom", 1)
    assert _count(path, "strategy_errors") == 0
    journal.flush_if_due()
    assert _count(path, "strategy_errors") == 1
    journal.close()


def test_record_mismatch_is_thread_safe(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = Journal(path)
    run_id = _start(journal)

    def worker(k: int) -> None:
        for i in range(50):
            journal.record_mismatch(
                "BTCUSDT", i, "sma", (20,), "value", 1.0, 1.0 + k, 1e-3, 12
            )

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    journal.close()
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT run_id, params, COUNT(*) FROM shadow_mismatches GROUP BY run_id, params"
        ).fetchall()
    assert rows == [(run_id, "[20]", 200)]


def test_records_before_start_run_are_a_programming_error(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    with pytest.raises(RuntimeError, match="start_run"):
        journal.record_transition("BTCUSDT", 0, "idle", "analyzing", "x")
    journal.close()


def test_unopenable_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--journal"):
        Journal(tmp_path)  # a directory


def test_not_a_database_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("this is not sqlite\n" * 100)
    with pytest.raises(ConfigError, match=r"notes\.txt"):
        Journal(path)


def test_two_runs_share_one_file(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path) as first:
        a = _start(first)
        _trade(first)
    with Journal(path) as second:
        b = _start(second)
        _trade(second, pnl=-1.0)
    assert b == a + 1
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT run_id, pnl FROM trades ORDER BY id").fetchall()
    assert rows == [(a, 1.5), (b, -1.0)]


# -- the write queue (records reach SQLite in batches) ------------------------------


def test_queued_records_are_read_back_and_committed_in_write_order(tmp_path: Path) -> None:
    """Records of several tables, interleaved and not yet committed: the journal's own
    reads see them, and each table's rows keep the order they were written in."""
    path = tmp_path / "j.sqlite"
    journal = Journal(path, flush_interval_s=3600.0, commit_trades=False)
    run_id = _start(journal)
    for i in range(3):
        journal.record_transition("BTCUSDT", i, "idle", "analyzing", f"t{i}")
        _trade(journal, pnl=float(i))
        journal.record_mismatch("BTCUSDT", i, "sma", (20,), "value", 1.0, 2.0, 1.0, 9)
    assert [t["pnl"] for t in journal.trades(run_id)] == [0.0, 1.0, 2.0]
    assert [m["timestamp"] for m in journal.mismatches(run_id)] == [0, 1, 2]
    assert _count(path, "trades") == 0  # read back, still uncommitted
    journal.close()
    with sqlite3.connect(path) as db:
        reasons = [r for (r,) in db.execute("SELECT reason FROM transitions ORDER BY id")]
    assert reasons == ["t0", "t1", "t2"]


def test_more_records_than_a_batch_all_arrive_in_order(tmp_path: Path) -> None:
    from engine.run.journal import WRITE_BATCH

    path = tmp_path / "j.sqlite"
    n = 2 * WRITE_BATCH + 3
    with Journal(path, flush_interval_s=3600.0) as journal:
        _start(journal)
        for i in range(n):
            journal.record_transition("BTCUSDT", i, "idle", "analyzing", "r")
        assert journal.pending == n and _count(path, "transitions") == 0
    with sqlite3.connect(path) as db:
        stamps = [t for (t,) in db.execute("SELECT timestamp FROM transitions ORDER BY id")]
    assert stamps == list(range(n))


def test_a_record_sqlite_refuses_fails_its_commit_and_keeps_the_earlier_ones(
    tmp_path: Path,
) -> None:
    """A record that cannot be stored stops the journal at the commit carrying it (a
    JournalError naming the file and SQLite's reason); what was committed stays."""
    from engine.errors import JournalError

    path = tmp_path / "j.sqlite"
    journal = Journal(path, flush_interval_s=3600.0)
    _start(journal)
    _trade(journal)  # committed at once
    journal.record_transition("BTCUSDT", 1, "idle", "analyzing", "fine")
    journal.record_transition("BTCUSDT", 2, "idle", "analyzing", {"not": "text"})  # type: ignore[arg-type]
    with pytest.raises(JournalError) as info:
        journal.flush()
    assert str(path) in str(info.value) and "type" in str(info.value)
    with pytest.raises(JournalError):  # stopped: every later record raises it again
        journal.record_transition("BTCUSDT", 3, "idle", "analyzing", "later")
    journal.close()
    assert _count(path, "trades") == 1 and _count(path, "transitions") == 0
