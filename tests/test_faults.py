"""Issue 17's fault sweep of the engine's outer surfaces: the journal, the CSV feed
and the OCaml server. Each fault ends in bounded time with a one-line error (or
rejected rows), and nothing already committed is lost."""

from __future__ import annotations

import gzip
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.cli import main
from engine.errors import ConfigError, FeedError, JournalError
from engine.market.feeds.csv_feed import MAX_LINE_CHARS, CsvFeed
from engine.report.stats import TradeRecord
from engine.run.journal import Journal

ROOT = Path(__file__).resolve().parent.parent
SMA = ROOT / "strategies" / "sma_crossover.lua"
HEADER = "timestamp,open,high,low,close,volume\n"
T0, MIN = 1_700_000_000_000, 60_000


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    """``python -m engine`` in-process: the exit code and the stderr lines."""
    code = main(argv)
    return code, capsys.readouterr().err.strip().splitlines()


def _start(journal: Journal) -> int:
    return journal.start_run(command=["t"], strategy_path="s.lua", strategy_sha256="0",
                             params={}, symbols=["X"], feed="sim", seed=1, fee_bps=0.0,
                             slippage_bps=0.0)


# -- the journal -------------------------------------------------------------------


def _trade(journal: Journal, i: int) -> None:
    journal.record_trade("X", TradeRecord(side="long", quantity=1.0, entry_timestamp=i,
                                          entry_price=1.0, exit_timestamp=i + 1, exit_price=2.0,
                                          exit_reason="strategy", fees=0.0, pnl=1.0))


def _fill_up(journal: Journal) -> None:
    """Let the database grow by at most 4 more pages (SQLite's SQLITE_FULL after)."""
    (pages,) = journal._db.execute("PRAGMA page_count").fetchone()
    journal._db.execute(f"PRAGMA max_page_count={pages + 4}")


def test_a_full_disk_stops_the_journal_and_keeps_what_was_committed(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = Journal(path)
    run_id = _start(journal)
    _fill_up(journal)
    with pytest.raises(JournalError) as info:
        for i in range(100_000):  # ~100-byte rows: 4 KiB is full after a few dozen
            _trade(journal, i)
    message = str(info.value)
    assert str(path) in message and "database or disk is full" in message
    assert "\n" not in message
    committed = i  # every earlier trade committed itself
    with pytest.raises(JournalError):
        journal.record_transition("X", 0, "idle", "analyzing", "x")  # stays stopped
    journal.end_run("finished", {})  # a no-op now: nothing more can be written
    journal.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM trades").fetchone() == (committed,)
        assert db.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone() == (
            "running",)


def test_a_run_whose_journal_fills_up_ends_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import engine.run.session as session

    class FillingJournal(Journal):
        def __init__(self, path: Path, **kw: Any) -> None:
            # each trade commits, as in a live run: some are committed before the disk
            # fills (a replayed run commits once a second: this short one, not yet)
            super().__init__(path, **{**kw, "commit_trades": True})

        def start_run(self, **kw: Any) -> int:
            run_id = super().start_run(**kw)
            _fill_up(self)
            return run_id

    monkeypatch.setattr(session, "Journal", FillingJournal)
    path = tmp_path / "j.sqlite"
    code, err = run(["run", "--strategy", str(SMA), "--bars", "20000", "--journal", str(path),
                     "--json"], capsys)
    assert code == 2
    assert err[-1].startswith(f"error: journal {path}: ") and "disk is full" in err[-1]
    with sqlite3.connect(path) as db:  # the run row and the trades committed before
        assert db.execute("SELECT status FROM runs").fetchall() == [("running",)]
        assert db.execute("SELECT count(*) FROM trades").fetchone()[0] > 0


def test_a_second_run_on_a_journal_in_use_is_refused_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "j.sqlite"
    argv = ["run", "--strategy", str(SMA), "--bars", "50", "--journal", str(path), "--json"]
    with Journal(path) as first:  # another run holds the file
        first_id = _start(first)
        code, err = run(argv, capsys)
        assert code == 2 and len(err) == 1
        assert err[0].startswith(f"error: --journal {path}: another running Tandem run")
    code, err = run(argv, capsys)  # once it ended, the file is free again
    assert code == 0
    with sqlite3.connect(path) as db:
        ids = [r[0] for r in db.execute("SELECT id FROM runs ORDER BY id")]
    assert ids == [first_id, first_id + 1]


def test_two_processes_on_one_journal_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from engine.run.journal import Journal\n"
         f"j = Journal({str(path)!r}); print('held', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_env(),
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(ConfigError, match="another running Tandem run"):
            Journal(path)
    finally:
        holder.communicate("", timeout=30)
    Journal(path).close()  # released when the holder ended


def test_a_corrupt_journal_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "j.sqlite"
    argv = ["run", "--strategy", str(SMA), "--bars", "50", "--journal", str(path), "--json"]
    assert run(argv, capsys)[0] == 0
    data = bytearray(path.read_bytes())
    data[100:] = b"\xa5" * (len(data) - 100)  # keep SQLite's header, garble every page
    path.write_bytes(bytes(data))
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    code, err = run(argv, capsys)
    assert code == 2 and len(err) == 1
    assert err[0].startswith(f"error: --journal {path}: cannot open as SQLite")


# -- the CSV feed ------------------------------------------------------------------


def _feed_error(path: Path | str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> str:
    """The run's one stderr line; in a child process with a timeout, since the fault
    (a FIFO, /dev/zero) would make a regression hang rather than fail."""
    done = subprocess.run(
        [sys.executable, "-m", "engine", "run", "--strategy", str(SMA), "--feed", f"csv:{path}",
         "--journal", str(tmp_path / "j.sqlite"), "--json"],
        capture_output=True, text=True, timeout=60, check=False, env=_env(),
    )
    err = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(err) == 1, done.stderr
    return err[0]


def test_a_directory_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "it is a directory" in _feed_error(tmp_path, capsys, tmp_path)


def test_a_fifo_is_refused_without_opening_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "bars.csv"
    os.mkfifo(fifo)  # opening it for reading would block until a writer came
    assert "it is a FIFO" in _feed_error(fifo, capsys, tmp_path)


def test_dev_zero_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "it is a character device" in _feed_error("/dev/zero", capsys, tmp_path)


def test_a_gzip_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bars.csv"
    path.write_bytes(gzip.compress((HEADER + f"{T0},1,1,1,1,1\n").encode()))
    assert "is gzip-compressed; decompress it first" in _feed_error(path, capsys, tmp_path)


def test_a_line_over_the_cap_is_skipped_piecewise_and_rejected(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    long = "1" * (3 * MAX_LINE_CHARS + 5)  # read in four pieces, never held whole
    path.write_text(f"{HEADER}{T0},1,1,1,1,1\n{long}\n{T0 + MIN},1,1,1,1,1\n")
    feed = CsvFeed(path, "X")
    assert [b.timestamp for b in feed.iter_bars()] == [T0, T0 + MIN]
    assert [(r.where, r.reason) for r in feed.stats.records] == [
        (f"{path}:3", f"line of {len(long) + 1:,} characters (at most {MAX_LINE_CHARS:,}) "
                      "skipped"),  # + 1: the line's newline
    ]


def test_a_header_line_over_the_cap_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    path.write_text("x" * (MAX_LINE_CHARS + 1))
    with pytest.raises(FeedError, match=r"bars\.csv:1: a line of 1,048,577 characters"):
        CsvFeed(path, "X")


def test_non_utf8_bytes_make_rejected_rows(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    path.write_bytes(HEADER.encode() + f"{T0},1,1,1,1,1\n".encode()
                     + f"{T0 + MIN},1\xff,1,1,1,1\n".encode("latin-1")
                     + f"{T0 + 2 * MIN},1,1,1,1,1\n".encode())
    feed = CsvFeed(path, "X")
    assert [b.timestamp for b in feed.iter_bars()] == [T0, T0 + 2 * MIN]
    assert [(r.kind, r.where) for r in feed.stats.records] == [("malformed", f"{path}:3")]
    assert "field 'open' = '1\ufffd' is not a number" in feed.stats.records[0].reason


# -- TANDEM_OCAML_BIN pointing at a broken server ----------------------------------

FAKES = {
    "garbage": "head -c 100000 /dev/urandom; exec sleep 100",
    "echo": "exec cat",
    "sleep": "exec sleep 100",
}


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **extra}
    return env


def _fake(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"fake_{kind}"
    path.write_text(f"#!/bin/sh\n{FAKES[kind]}\n")
    path.chmod(0o755)
    return path


@pytest.mark.parametrize("kind", ["garbage", "echo", "sleep"])
def test_verify_reports_a_broken_server_in_bounded_time(tmp_path: Path, kind: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "engine", "verify", "--bars", "300"],
        capture_output=True, text=True, timeout=60, check=False,
        env=_env(TANDEM_OCAML_BIN=str(_fake(tmp_path, kind))),
    )
    err = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(err) == 1
    assert err[0].startswith("error: OCaml indicator server")


@pytest.mark.parametrize("kind", ["garbage", "echo", "sleep"])
def test_shadow_mode_reports_a_broken_server_and_the_run_completes(
    tmp_path: Path, kind: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "engine", "run", "--strategy", str(SMA), "--bars", "200",
         "--shadow-ocaml", "--shadow-timeout", "0.5", "--journal", str(tmp_path / "j.sqlite"),
         "--json"],
        capture_output=True, text=True, timeout=60, check=False,
        env=_env(TANDEM_OCAML_BIN=str(_fake(tmp_path, kind))),
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["bars"] == 200 and summary["shadow"]["errors"] >= 1
    assert "shadow: OCaml candidate error" in done.stderr
    assert len(done.stderr) < 10_000
