"""Audit: bad input a user can type reaches them as one clear line and a non-zero exit.

Each case here was tried by hand against the command line during the audit and
was handled; these tests keep it that way. Every error must name the flag, file
or field and the offending value, and print no traceback (docs/design.md §9).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main

ROOT = Path(__file__).resolve().parent.parent
SMA = ROOT / "strategies" / "sma_crossover.lua"

#: Enters long on the bar after any detect, with a misspelt stop-loss field.
TYPO = """
function detect_opportunity(m, c, i) return { seen = m.close } end
function filter_commitment(m, c, i)
  return { action = "enter_long", quantity = 1, stop_los = m.close * 0.99 }
end
function manage_position(m, c, i) return nil end
"""

#: Fails on every call, at line 3.
ERRING = """
function detect_opportunity(m, c, i)
  local x = nil
  return x.y
end
function filter_commitment(m, c, i) return nil end
function manage_position(m, c, i) return nil end
"""

HEADER = "timestamp,open,high,low,close,volume\n"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith("error: "), err
    return err


@pytest.mark.parametrize(
    ("extra", "fragments"),
    [
        (["--interval", "7x"], ["'7x'", "1m"]),
        (["--interval", "0m"], ["'0m'"]),
        (["--slippage-bps", "nan"], ["--slippage-bps nan"]),
        (["--fee-bps", "1e400"], ["--fee-bps inf"]),
        (["--window", "0"], ["--window 0"]),
        (["--param", "fats=10"], ["'fats'", "did you mean 'fast'?"]),
        (["--param", "fast=abc"], ["'fast'", "'abc'", "not an integer"]),
        (["--param", "fast=2.5"], ["'fast'", "'2.5'", "not an integer"]),
        (["--param", "quantity=nan"], ["'quantity'", "'nan'", "not a finite number"]),
        (["--strategy-for", "ETHUSDT"], ["--strategy-for 'ETHUSDT'", "SYMBOL=FILE"]),
        (["--symbols", ""], ["--symbols", "invalid symbol ''"]),
        (["--symbols", "BTCUSDT,BTCUSDT"], ["--symbols", "BTCUSDT is listed twice"]),
        (["--symbols", "BTCUSDT,ETHUSDT", "--strategy-for", "ETHUSDT=nope.lua"],
         ["nope.lua", "does not exist"]),
        (["--strategy-for", f"BTCUSDT={SMA}", "--strategy-for", f"BTCUSDT={SMA}"],
         ["--strategy-for BTCUSDT is given twice"]),
    ],
)
def test_bad_run_options_name_the_flag_and_value(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, extra: list[str], fragments: list[str]
) -> None:
    code = main(["run", "--strategy", str(SMA), "--journal", str(tmp_path / "j.sqlite"),
                 "--bars", "5", *extra])
    err = _error_line(capsys)
    assert code == 2
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in {err!r}"


def test_a_csv_feed_that_is_a_directory(capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    code = main(["run", "--strategy", str(SMA), "--journal", str(tmp_path / "j.sqlite"),
                 "--feed", f"csv:{tmp_path}"])
    err = _error_line(capsys)
    assert code == 2 and str(tmp_path) in err


def test_a_csv_header_without_volume_names_the_file_and_column(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    csv = _write(tmp_path, "bars.csv", "timestamp,open,high,low,close\n1,2,3,1,2\n")
    code = main(["run", "--strategy", str(SMA), "--journal", str(tmp_path / "j.sqlite"),
                 "--feed", f"csv:{csv}"])
    err = _error_line(capsys)
    assert code == 2 and "bars.csv" in err and "volume" in err


def test_a_strategy_missing_a_function_names_it_and_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = _write(tmp_path, "half.lua", "function detect_opportunity() end\n"
                                        "function manage_position() end\n")
    code = main(["run", "--strategy", str(path), "--journal", str(tmp_path / "j.sqlite")])
    err = _error_line(capsys)
    assert code == 2 and "half.lua" in err and "filter_commitment" in err


def test_a_misspelt_action_field_is_never_ignored_in_a_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = _write(tmp_path, "typo.lua", TYPO)
    journal = tmp_path / "j.sqlite"
    code = main(["run", "--strategy", str(path), "--journal", str(journal), "--json",
                 "--bars", "40", "--max-errors", "3"])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 1
    assert summary["trades"] == 0 and summary["open_positions"] == 0
    assert summary["strategy_errors"] == 3 and summary["stopped_symbols"] == ["BTCUSDT"]
    with sqlite3.connect(journal) as db:
        messages = [m for (m,) in db.execute("SELECT message FROM strategy_errors")]
    assert "'stop_los'" in messages[0] and "did you mean 'stop_loss'?" in messages[0]
    assert "typo.lua:" in messages[0]


def test_check_reports_a_misspelt_field_and_exits_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = _write(tmp_path, "typo.lua", TYPO)
    code = main(["check", str(path), "--bars", "20"])
    out = capsys.readouterr().out
    assert code == 1
    assert "did you mean 'stop_loss'?" in out and "enter_long" in out


def test_check_rejects_a_non_positive_bar_count(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", str(SMA), "--bars", "0"])
    err = _error_line(capsys)
    assert code == 2 and " 0" in err


def test_verify_data_without_a_valid_bar_is_an_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    csv = _write(tmp_path, "empty.csv", HEADER)
    code = main(["verify", "--data", str(csv)])
    err = _error_line(capsys)
    assert code == 2 and "empty.csv" in err and "no valid bars" in err


def test_verify_with_an_empty_indicator_list_is_an_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["verify", "--indicators", "", "--bars", "100"])
    err = _error_line(capsys)
    assert code == 2 and "--indicators" in err


def test_a_strategy_erring_every_bar_stops_with_exit_1_and_no_traceback(
    tmp_path: Path,
) -> None:
    path = _write(tmp_path, "erring.lua", ERRING)
    out = subprocess.run(
        [sys.executable, "-m", "engine", "run", "--strategy", str(path), "--bars", "30",
         "--max-errors", "5", "--journal", str(tmp_path / "j.sqlite"), "--json"],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
    )
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert "erring.lua:4" in out.stderr and "in detect_opportunity" in out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["strategy_errors"] == 5 and summary["stopped_symbols"] == ["BTCUSDT"]
    assert summary["bars"] == 30  # the symbol keeps receiving bars after the stop


def test_debug_shows_the_traceback_and_still_fails(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "engine", "--debug", "run", "--strategy",
         str(tmp_path / "missing.lua")],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
    )
    assert out.returncode != 0
    assert "Traceback" in out.stderr and "missing.lua" in out.stderr
