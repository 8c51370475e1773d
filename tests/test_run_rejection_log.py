"""Rejected feed records are logged with their place (docs/design.md §2), the first few only."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from engine.cli import main
from engine.run.orchestrator import LOGGED_REJECTIONS

SMA = str(Path(__file__).resolve().parent.parent / "strategies" / "sma_crossover.lua")


def test_first_rejections_are_logged_with_file_and_line_the_rest_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = LOGGED_REJECTIONS + 5
    lines = ["timestamp,open,high,low,close,volume"]
    lines += [f"{1_700_000_000_000 + i * 60_000},100,101,99,100,5" for i in range(10)]
    lines += ["oops,1,1,1,1,1"] * bad  # lines 12 .. 11 + bad
    csv = tmp_path / "bars.csv"
    csv.write_text("\n".join(lines) + "\n")
    journal = tmp_path / "j.sqlite"
    code = main(["run", "--strategy", SMA, "--feed", f"csv:{csv}", "--journal", str(journal),
                 "--json"])
    err = capsys.readouterr().err
    assert code == 0
    logged = [ln for ln in err.splitlines() if "rejected " in ln and "bars.csv:" in ln]
    assert len(logged) == LOGGED_REJECTIONS
    assert "bars.csv:12: field 'timestamp'" in logged[0]
    assert f"bars.csv:{11 + LOGGED_REJECTIONS}:" in logged[-1]
    assert err.count("no longer logged") == 1
    with sqlite3.connect(journal) as db:
        (journaled,) = db.execute("SELECT COUNT(*) FROM rejected_bars").fetchone()
    assert journaled == bad  # every rejection is in the journal, logged or not
