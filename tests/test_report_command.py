"""``python -m engine report`` and ``run --html``: from a real journal, and each bad input
(no such run, an empty run, a run in progress, an older and a newer journal, an
unwritable --html path, a journal that does not exist)."""

from __future__ import annotations

import json
import sqlite3
from array import array
from pathlib import Path

import pytest
from factories import make_bar

from engine.cli import main
from engine.report.model import RunStatus
from engine.run import RunConfig, backtest
from engine.run.equity import EquityLog
from engine.run.journal import SCHEMA, SCHEMA_VERSION, Journal
from engine.run.reporting import load_report

ROOT = Path(__file__).resolve().parent.parent
STRATEGY = ROOT / "strategies" / "sma_crossover.lua"


@pytest.fixture(scope="module")
def journal_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "runs.sqlite"
    backtest(RunConfig(strategy=STRATEGY, bars=1_500, symbols=("BTCUSDT", "ETHUSDT"),
                       journal=path))
    return path


def report(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["report", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_is_the_statistics_stored_at_the_end_of_the_run(
        journal_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = report(capsys, "--journal", str(journal_path), "--json")
    assert code == 0
    data = json.loads(out)
    assert (data["run_id"], data["status"], data["partial"]) == (1, "finished", False)
    with sqlite3.connect(journal_path) as db:
        rows = dict(db.execute("SELECT symbol, statistics FROM run_stats WHERE run_id = 1"))
        trades = dict(db.execute("SELECT symbol, COUNT(*) FROM trades GROUP BY symbol"))
    assert set(data["symbols"]) == {"BTCUSDT", "ETHUSDT"}
    for symbol, stats in data["symbols"].items():
        assert stats == json.loads(rows[symbol])
        assert stats["bars"] == 1_500 and stats["trades"] == trades[symbol]


def test_the_tables_show_the_statistics_and_trades(
        journal_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = report(capsys, "1", "--journal", str(journal_path))
    assert code == 0
    assert "Run 1 · complete" in out and "BTCUSDT: statistics" in out
    assert "Sharpe ratio (rf 0)" in out and "ETHUSDT: trades" in out


def test_a_run_id_that_does_not_exist_names_the_latest_ones(
        journal_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = report(capsys, "42", "--journal", str(journal_path))
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        f"error: run 42 is not in {journal_path}; its latest runs: 1"]


def test_a_journal_that_does_not_exist_is_not_created(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.sqlite"
    code, _, err = report(capsys, "--journal", str(missing))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "does not exist" in err and not missing.exists()


@pytest.mark.parametrize("where", ["missing_dir", "a_directory"])
def test_an_unwritable_html_path_is_one_line_and_exit_2(
        journal_path: Path, tmp_path: Path, where: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "no" / "such" / "r.html" if where == "missing_dir" else tmp_path
    code, out, err = report(capsys, "--journal", str(journal_path), "--html", str(target))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith(f"error: --html {target}")


def test_run_html_writes_the_report_at_the_end(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page, path = tmp_path / "r.html", tmp_path / "j.sqlite"
    code = main(["run", "--strategy", str(STRATEGY), "--bars", "300", "--journal", str(path),
                 "--html", str(page), "--json"])
    capsys.readouterr()
    assert code == 0
    text = page.read_text(encoding="utf-8")
    assert 'data-status="finished"' in text and "BTCUSDT" in text


def test_run_html_into_a_missing_directory_fails_before_the_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "j.sqlite"
    code = main(["run", "--strategy", str(STRATEGY), "--bars", "300", "--journal", str(path),
                 "--html", str(tmp_path / "missing" / "r.html")])
    _, err = capsys.readouterr()
    assert code == 2 and "does not exist" in err
    assert not path.exists()  # nothing ran


def _empty_csv(tmp_path: Path) -> Path:
    csv = tmp_path / "empty.csv"
    csv.write_text("timestamp,open,high,low,close,volume\n", encoding="utf-8")
    return csv


def test_an_empty_run_is_a_marked_report_without_nan(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, page = tmp_path / "j.sqlite", tmp_path / "r.html"
    backtest(RunConfig(strategy=STRATEGY, feed=f"csv:{_empty_csv(tmp_path)}", journal=path))
    code, out, _ = report(capsys, "--journal", str(path), "--json", "--html", str(page))
    assert code == 0
    stats = json.loads(out)["symbols"]["BTCUSDT"]  # strict JSON: no NaN could parse here
    assert stats["bars"] == 0 and stats["trades"] == 0
    assert stats["sharpe_ratio"] is None and stats["return_pct"] is None
    assert "No bars: nothing to draw." in page.read_text(encoding="utf-8")


def _start(journal: Journal) -> None:
    journal.start_run(command=["t"], strategy_path="s.lua", strategy_sha256="0" * 64,
                      params={}, symbols=["BTCUSDT"], feed="sim", seed=1, fee_bps=0.0,
                      slippage_bps=0.0, starting_equity=1_000.0, interval_ms=60_000)


def test_a_run_in_progress_reports_what_is_stored_marked_partial(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "j.sqlite"
    journal = Journal(path)
    _start(journal)
    marks: array[float] = array("d")
    log = EquityLog("BTCUSDT", marks, 1_000.0)
    for i, e in enumerate([1_000.0, 1_100.0, 990.0]):  # as a killed run left it
        marks.append(e)
        log.kept.append(make_bar(i, 100.0))
    log.advance()
    log.write(journal)
    journal.flush()
    with Journal(path, reader=True) as reader:  # the run still holds the file
        model = load_report(reader)
    assert model.status is RunStatus.RUNNING and model.status.partial
    assert "statistics from the 3 stored points" in model.note
    (sym,) = model.symbols
    # 1000 -> 990: -1 %; the drawdown 1 - 990/1100 = 10 % (from the stored drawdown)
    assert sym.statistics.return_pct == pytest.approx(-1.0)
    assert sym.statistics.max_drawdown_pct == pytest.approx(10.0)
    page = tmp_path / "r.html"
    code, _, _ = report(capsys, "--journal", str(path), "--html", str(page))
    assert code == 0
    assert 'id="run-status" data-status="running"' in page.read_text(encoding="utf-8")
    journal.close()


def _schema_1_journal(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA)
        db.execute("PRAGMA user_version=1")
        db.execute("INSERT INTO runs (started_at, ended_at, status, command, strategy_path,"
                   " strategy_sha256, params, symbols, feed, seed, fee_bps, slippage_bps)"
                   " VALUES ('t', 't', 'interrupted', '[]', 's.lua', 'ab', '{}',"
                   " '[\"BTCUSDT\"]', 'sim', 1, 10, 0)")
        db.execute("INSERT INTO trades (run_id, symbol, side, quantity, entry_timestamp,"
                   " entry_price, exit_timestamp, exit_price, exit_reason, fees, pnl)"
                   " VALUES (1, 'BTCUSDT', 'long', 1, 0, 100, 60000, 110, 'strategy', 0, 10)")


def test_an_older_journal_is_migrated_and_reported(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "old.sqlite"
    _schema_1_journal(path)
    code, out, _ = report(capsys, "--journal", str(path), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["status"] == "interrupted" and data["partial"]
    assert "schema 1" in data["note"]
    stats = data["symbols"]["BTCUSDT"]
    assert stats["trades"] == 1 and stats["win_rate_pct"] == 100.0
    with sqlite3.connect(path) as db:
        (version,) = db.execute("PRAGMA user_version").fetchone()
        columns = {r[1] for r in db.execute("PRAGMA table_info(trades)")}
        (old,) = db.execute("SELECT pnl FROM trades").fetchone()
    assert version == SCHEMA_VERSION == 3
    assert {"mae_pct", "mfe_pct", "bars_held", "slippage", "entry_reason"} <= columns
    assert old == 10.0  # nothing lost


def test_a_newer_journal_is_refused_naming_the_version(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "new.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version=7")
    code, _, err = report(capsys, "--journal", str(path))
    assert code == 2
    assert err.strip().splitlines() == [
        f"error: --journal {path}: journal schema version 7 is newer than this Tandem's "
        f"({SCHEMA_VERSION}); open it with a Tandem that reads schema version 7"]


def test_a_journal_without_runs_says_so(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "j.sqlite"
    Journal(path).close()
    code, _, err = report(capsys, "--journal", str(path))
    assert code == 2 and "the journal has no runs yet" in err


def test_the_shadow_result_and_its_mismatches_are_in_the_report(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path) as journal:
        _start(journal)
        for i in range(2):
            journal.record_mismatch("BTCUSDT", 60_000 * i, "rsi", [14], "value", 51.25,
                                    51.250000001, 2.1e-9, 4)
        journal.end_run("finished", {"shadow": {"compared": 50, "mismatches": 2, "errors": 0,
                                                "dropped": 0}, "symbols": {}})
    with Journal(path) as reader:
        model = load_report(reader)
    assert model.shadow is not None
    assert (model.shadow.compared, model.shadow.mismatches) == (50, 2)
    assert [m.timestamp for m in model.shadow.mismatch_list] == [0, 60_000]
    assert model.shadow.mismatch_list[0].params == [14]
