"""``python -m engine verify``: exit codes, the JSON table, CSV input, clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import bridge.crosscheck as crosscheck
import bridge.verify_command as verify_command
from engine.cli import main
from verify.test_harness import Perturbed

PAIRS = 10  # 5 implementations, every pair


def _json_out(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    out = capsys.readouterr().out.strip().splitlines()
    doc: dict[str, object] = json.loads(out[-1])
    return doc


def _rows(doc: dict[str, object]) -> list[dict[str, Any]]:
    rows = doc["rows"]
    assert isinstance(rows, list)
    return rows


@pytest.mark.usefixtures("ocaml")
def test_simulated_series_passes_with_every_pair_reported(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["verify", "--bars", "400", "--indicators", "sma,Stoch", "--json"])
    doc = _json_out(capsys)
    assert code == 0 and doc["ok"] is True and doc["bars"] == 400
    rows = _rows(doc)
    assert len(rows) == 2 * PAIRS
    sma = [r for r in rows if r["indicator"] == "sma"]
    assert {r["pair"] for r in sma} >= {"python-batch vs talib", "ocaml-stream vs talib"}
    # SMA(30) has 371 values; STOCH(5,3,3) 2 outputs x (400 - 8).
    assert {r["compared"] for r in sma if "stream" not in r["pair"]} == {371}
    stoch = [r for r in rows if r["indicator"] == "stoch"]
    assert {r["compared"] for r in stoch if "stream" not in r["pair"]} == {2 * 392}
    assert all(r["ok"] and r["max_ulp"] is not None for r in rows)


@pytest.mark.usefixtures("ocaml")
def test_a_perturbed_implementation_makes_the_command_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = verify_command._implementations

    def with_bad(ocaml: object) -> list[crosscheck.Implementation]:
        return [*real(ocaml), Perturbed(crosscheck.PythonBatch())]

    monkeypatch.setattr(verify_command, "_implementations", with_bad)
    code = main(["verify", "--bars", "300", "--indicators", "ema"])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL" in out and "perturbed" in out and "contract: FAILS" in out


@pytest.mark.usefixtures("ocaml")
def test_csv_data_is_read_through_the_csv_feed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(3)
    close = 50.0 + np.cumsum(rng.normal(0, 0.5, 120))
    path = tmp_path / "bars.csv"
    lines = ["timestamp,open,high,low,close,volume"]
    for i, c in enumerate(close):
        lines.append(f"{1_700_000_000_000 + 60_000 * i},{c},{c + 1},{c - 1},{c},{10 + i}")
    lines.append(f"{1_700_000_000_000 + 60_000 * 120},5,4,6,5,1")  # high < low: rejected
    path.write_text("\n".join(lines) + "\n")
    code = main(["verify", "--data", str(path), "--indicators", "mfi", "--json"])
    doc = _json_out(capsys)
    assert code == 0 and doc["bars"] == 120
    assert "1 rejected" in str(doc["source"])
    assert all(r["compared"] == 120 - 14 for r in _rows(doc) if "stream" not in str(r["pair"]))


def test_unknown_indicator_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--indicators", "sma,rsii"]) == 2
    err = capsys.readouterr().err
    assert "unknown indicator 'rsii'" in err and "did you mean 'rsi'" in err


def test_missing_csv_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--data", str(tmp_path / "nope.csv")]) == 2
    assert "nope.csv" in capsys.readouterr().err


def test_missing_ocaml_executable_names_where_it_looked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TANDEM_OCAML_BIN", str(tmp_path / "no-server"))
    assert main(["verify", "--bars", "50", "--indicators", "sma"]) == 2
    err = capsys.readouterr().err
    assert "TANDEM_OCAML_BIN" in err and "no-server" in err and "dune build" in err


def test_bad_bar_count_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--bars", "0"]) == 2
    assert "--bars" in capsys.readouterr().err


@pytest.mark.usefixtures("ocaml")
def test_a_series_shorter_than_the_lookback_is_flagged_not_passed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # ADX(14) needs 28 bars: with 20 nothing is compared, which proves nothing.
    code = main(["verify", "--bars", "20", "--indicators", "adx"])
    captured = capsys.readouterr()
    assert code == 0  # the contract did not fail ...
    assert "n/a: series shorter than the lookback" in captured.out  # ... but nothing passed
    assert " ok " not in captured.out
    assert "note: 10 of 10 comparisons had no values to compare" in captured.err
    assert "pushed the last 20 bars" in captured.out.replace("\n", " ")


@pytest.mark.usefixtures("ocaml")
def test_execution_cross_check_of_every_example_strategy(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["verify", "--bars", "3000", "--indicators", "sma", "--json"])
    doc = _json_out(capsys)
    execution = doc["execution"]
    assert isinstance(execution, list)
    names = sorted(p.stem for p in (Path(__file__).parent.parent / "strategies").glob("*.lua"))
    assert [r["strategy"] for r in execution] == names
    for row in execution:
        # every bar replayed; a closed trade is two fills (an open position adds one)
        assert row["bars"] == 3000 and row["trades"] > 0, row
        assert row["fills"] in (2 * row["trades"], 2 * row["trades"] + 1), row
        assert row["identical_fills"] == row["fills"] and row["mismatches"] == 0, row
        assert row["ok"] is True and row["max_difference"] == 0.0
    assert code == 0 and doc["ok"] is True


def test_execution_mismatch_fails_verify(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import bridge.verify_trades as vt

    def lying(args: object) -> list[dict[str, Any]]:
        return [{"strategy": "x", "bars": 1, "trades": 1, "fills": 2, "identical_fills": 0,
                 "mismatches": 1, "max_difference": 0.5, "errors": 0, "ok": False}]

    monkeypatch.setattr(verify_command, "execution_rows", lying)
    assert vt.execution_rows is not lying
    code = main(["verify", "--bars", "300", "--indicators", "sma"])
    out = capsys.readouterr().out
    assert code == 1 and "FAIL" in out and "agreement contract: FAILS" in out
