"""Shadow mode end to end (``python -m engine run --shadow-ocaml``).

The run's trades never depend on shadow mode; an honest candidate agrees on
every value; a missing, dying or hanging candidate is counted and survived; a
lying one is caught with full context and fails ``--shadow-strict``.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import stat
import struct
import sys
from pathlib import Path
from typing import Any

import pytest

from bridge.transport import DEFAULT_EXECUTABLE
from engine.cli import main
from engine.indicators.registry import SPECS

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
ALL_INDICATORS = DATA / "all_indicators.lua"
PROXY = DATA / "shadow_proxy.py"
#: Output values per bar of all_indicators.lua, which reads every registry indicator once
#: (test_all_indicators_reads_every_registry_indicator_once).
ALL_OUTPUTS = sum(len(spec.outputs) for spec in SPECS.values())

SERVER = Path(os.environ.get("TANDEM_OCAML_BIN") or DEFAULT_EXECUTABLE)
pytestmark = pytest.mark.usefixtures("ocaml_server")


@pytest.fixture(autouse=True, params=["process", "in-run"])
def placement(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test twice: checked in the forked shadow process (the default, when this
    process has one thread) and on a thread of the run (what the factory falls back to)."""
    if request.param == "in-run":
        monkeypatch.setattr("bridge.shadow.factory.start", lambda config, journal: None)
    return str(request.param)

#: Long above its 10-bar SMA, flat below (shared with tests/test_cli_run.py).
SMA_TREND = DATA / "sma_trend.lua"

#: Opens streams late (after the window has slid) and shorts on a MACD cross.
LATE_OPENS = """
n = 0
local function tick(ind)
  n = n + 1
  local s = ind.sma(10)
  if n > 300 then ind.ema(30) end
  if n > 600 then ind.obv(); ind.macd(5, 35, 5) end
  if n > 900 then ind.adx(7); ind.bollinger(10, 1.5, 2.5) end
  return s
end
function detect_opportunity(m, ctx, ind)
  local s = tick(ind)
  if s ~= nil and m.close < s then return {} end
  return nil
end
function filter_commitment(m, ctx, ind)
  tick(ind)
  return { action = "enter_short", quantity = 0.1, stop_loss = m.close * 1.01 }
end
function manage_position(m, ctx, ind)
  local s = tick(ind)
  if s ~= nil and m.close > s * 1.002 then return { action = "exit" } end
  return nil
end
"""

#: Same indicator with several parameter sets, oscillators and CCI.
MANY_PARAMS = """
function detect_opportunity(m, ctx, ind)
  local fast, slow = ind.ema(5), ind.ema(50)
  local r, c, w = ind.rsi(7), ind.cci(20), ind.willr(21)
  local k = ind.stoch(14, 3, 3)
  if fast and slow and r and c and w and k and fast > slow and r < 70 and c > -100 then
    return {}
  end
  return nil
end
function filter_commitment(m, ctx, ind)
  local a = ind.atr(5)
  if a == nil then return { action = "cancel_analysis" } end
  return { action = "enter_long", quantity = 0.1, stop_loss = m.close - 3 * a,
           take_profit = m.close + 3 * a }
end
function manage_position(m, ctx, ind)
  local r = ind.mfi(10)
  if r ~= nil and r > 80 then return { action = "exit" } end
  return nil
end
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def run(
    capsys: pytest.CaptureFixture[str], journal: Path, strategy: Path, *argv: str
) -> tuple[int, dict[str, Any], str]:
    """Run in-process; (exit code, --json summary, stderr)."""
    code = main(["run", "--strategy", str(strategy), "--journal", str(journal), "--json", *argv])
    captured = capsys.readouterr()
    return code, json.loads(captured.out.strip().splitlines()[-1]), captured.err


def trades(journal: Path, run_id: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(journal) as db:
        return db.execute(
            "SELECT symbol, side, quantity, entry_timestamp, entry_price, exit_timestamp,"
            " exit_price, exit_reason, fees, pnl FROM trades WHERE run_id = ? ORDER BY id",
            (run_id,),
        ).fetchall()


def mismatches(journal: Path, run_id: object) -> list[sqlite3.Row]:
    with sqlite3.connect(journal) as db:
        db.row_factory = sqlite3.Row
        return db.execute(
            "SELECT * FROM shadow_mismatches WHERE run_id = ? ORDER BY id", (run_id,)
        ).fetchall()


def baseline(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, strategy: Path, *argv: str
) -> list[tuple[object, ...]]:
    """The trades of the same run without shadow mode."""
    journal = tmp_path / "plain.sqlite"
    code, summary, _ = run(capsys, journal, strategy, *argv)
    assert code == 0 and summary["shadow"]["compared"] == 0
    closed = trades(journal, summary["run_id"])
    assert closed, f"{strategy.name} closed no trade: comparing its trades would prove nothing"
    return closed


def candidate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mode: str, after: int) -> Path:
    """Point TANDEM_OCAML_BIN at the misbehaving proxy (tests/data/shadow_proxy.py)."""
    script = tmp_path / f"candidate_{mode}.sh"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{PROXY}" "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("TANDEM_OCAML_BIN", str(script))
    monkeypatch.setenv("TANDEM_PROXY_TARGET", str(SERVER))
    monkeypatch.setenv("TANDEM_PROXY_MODE", mode)
    monkeypatch.setenv("TANDEM_PROXY_AFTER", str(after))
    monkeypatch.setenv("TANDEM_PROXY_ONCE", str(tmp_path / f"{mode}.once"))
    monkeypatch.setenv("TANDEM_PROXY_LOG", str(tmp_path / "lies.txt"))
    return script


# -- an honest candidate ------------------------------------------------------------


def test_all_indicators_reads_every_registry_indicator_once() -> None:
    """The shadow tests (and bench/shadow.py) cover every indicator only while
    all_indicators.lua calls each one: a new registry entry needs its call there."""
    calls = re.findall(r"\bind\.(\w+)\(", ALL_INDICATORS.read_text())
    expected = sorted(spec.lua for spec in SPECS.values())
    assert sorted(calls) == expected, (
        f"{ALL_INDICATORS.name} should call each of {expected} once, calls {sorted(calls)}"
    )


def strategies(tmp_path: Path) -> dict[str, Path]:
    found = {
        "sma_trend": SMA_TREND,
        "late_opens": write(tmp_path, "late_opens.lua", LATE_OPENS),
        "many_params": write(tmp_path, "many_params.lua", MANY_PARAMS),
        "all_indicators": ALL_INDICATORS,
    }
    found.update({p.stem: p for p in sorted((ROOT / "strategies").glob("*.lua"))})
    return found


@pytest.mark.parametrize(
    "name", ["sma_trend", "late_opens", "many_params", "all_indicators", "shipped"]
)
def test_trades_are_identical_with_and_without_shadow(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str
) -> None:
    found = strategies(tmp_path)
    shipped = [p for p in found.values() if p.parent == ROOT / "strategies"]
    assert name != "shipped" or shipped, "strategies/*.lua should ship example strategies"
    for path in shipped if name == "shipped" else [found[name]]:
        argv = ("--bars", "1200", "--symbols", "BTCUSDT,ETHUSDT", "--window", "200")
        expected = baseline(capsys, tmp_path, path, *argv)
        journal = tmp_path / f"shadow_{path.stem}.sqlite"
        code, summary, _ = run(capsys, journal, path, *argv, "--shadow-ocaml", "--shadow-strict")
        shadow = summary["shadow"]
        assert code == 0, shadow
        assert trades(journal, summary["run_id"]) == expected
        assert shadow["compared"] > 0
        assert (shadow["mismatches"], shadow["errors"], shadow["dropped"]) == (0, 0, 0)
        assert mismatches(journal, summary["run_id"]) == []


def test_long_run_with_every_indicator_has_no_mismatch(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bars = 20_000
    journal = tmp_path / "long.sqlite"
    code, summary, _ = run(capsys, journal, ALL_INDICATORS, "--bars", str(bars), "--seed", "7",
                           "--shadow-ocaml", "--shadow-strict")
    shadow = summary["shadow"]
    assert code == 0, shadow
    # every stream opens on the first bar; each bar then serves 20 values
    assert shadow["compared"] == bars * ALL_OUTPUTS
    assert (shadow["mismatches"], shadow["errors"], shadow["dropped"]) == (0, 0, 0)
    assert shadow["latency_ms"]["p50"] is not None
    assert shadow["latency_ms"]["p50"] <= shadow["latency_ms"]["p99"]


def test_sampling_compares_a_share_of_bars_and_keeps_streams_in_step(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bars = 2001
    journal = tmp_path / "sample.sqlite"
    code, summary, _ = run(capsys, journal, ALL_INDICATORS, "--bars", str(bars),
                           "--shadow-ocaml", "--shadow-sample", "0.25", "--shadow-strict")
    shadow = summary["shadow"]
    assert code == 0, shadow
    # the opening values, then every 4th of the 2000 later bars
    assert shadow["compared"] == ALL_OUTPUTS * (1 + 2000 // 4)
    # unsampled bars still reached the OCaml streams, else later values would differ
    assert shadow["mismatches"] == 0 and shadow["errors"] == 0


@pytest.mark.parametrize("rate", ["0", "1.5", "-0.1"])
def test_bad_sample_rate_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, rate: str
) -> None:
    code = main(["run", "--strategy", str(ALL_INDICATORS), "--bars", "10", "--shadow-ocaml",
                 "--shadow-sample", rate, "--journal", str(tmp_path / "j.sqlite")])
    err = capsys.readouterr().err
    assert code == 2 and "--shadow-sample" in err and rate in err


# -- faults: the run goes on and they are reported -----------------------------------


def test_missing_executable_is_counted_and_the_run_is_intact(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    strategy = SMA_TREND
    expected = baseline(capsys, tmp_path, strategy, "--bars", "500")
    missing = tmp_path / "no_such_server"
    monkeypatch.setenv("TANDEM_OCAML_BIN", str(missing))
    journal = tmp_path / "missing.sqlite"
    code, summary, err = run(capsys, journal, strategy, "--bars", "500", "--shadow-ocaml")
    shadow = summary["shadow"]
    assert code == 0
    assert trades(journal, summary["run_id"]) == expected
    assert shadow["errors"] >= 1 and shadow["compared"] == 0
    assert str(missing) in shadow["first_error"] and str(missing) in err
    assert shadow["unchecked_bars"] == 499  # every bar after the stream opened

    code, summary, err = run(capsys, tmp_path / "strict.sqlite", strategy, "--bars", "500",
                             "--shadow-ocaml", "--shadow-strict")
    assert code == 1 and "--shadow-strict" in err and "shadow error" in err


def test_candidate_dying_mid_run_is_restarted_and_reseeded_exactly(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    strategy = write(tmp_path, "late.lua", LATE_OPENS)
    # dies after the last stream opened, with more batches (of <= 1024 bars) to come
    argv = ("--bars", "4000", "--window", "200")
    expected = baseline(capsys, tmp_path, strategy, *argv)
    candidate(monkeypatch, tmp_path, "die", after=1000)
    journal = tmp_path / "die.sqlite"
    code, summary, err = run(capsys, journal, strategy, *argv, "--shadow-ocaml")
    shadow = summary["shadow"]
    assert code == 0
    assert (tmp_path / "die.once").exists()  # the fault did happen
    assert trades(journal, summary["run_id"]) == expected
    assert shadow["errors"] == 1 and shadow["restarts"] == 1
    assert "exited with status 1" in shadow["first_error"]
    assert "shadow: OCaml candidate error" in err  # logged too
    assert 0 < shadow["unchecked_bars"] < 4000
    # re-seeded from each stream's own first bar: EMA, OBV, MACD, ADX agree again
    assert shadow["mismatches"] == 0 and shadow["lost_streams"] == 0
    assert shadow["compared"] > 0


def test_candidate_hanging_mid_run_times_out_and_is_replaced(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    strategy = write(tmp_path, "late.lua", LATE_OPENS)
    argv = ("--bars", "4000", "--window", "200")
    expected = baseline(capsys, tmp_path, strategy, *argv)
    candidate(monkeypatch, tmp_path, "hang", after=1000)  # more batches to come
    journal = tmp_path / "hang.sqlite"
    code, summary, _ = run(capsys, journal, strategy, *argv, "--shadow-ocaml",
                           "--shadow-timeout", "0.5")
    shadow = summary["shadow"]
    assert code == 0
    assert trades(journal, summary["run_id"]) == expected
    assert shadow["errors"] == 1 and shadow["restarts"] == 1
    assert "did not answer within 0.5 s" in shadow["first_error"]
    assert shadow["mismatches"] == 0 and shadow["compared"] > 0


def test_candidate_that_never_answers_is_given_up(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    strategy = SMA_TREND
    expected = baseline(capsys, tmp_path, strategy, "--bars", "300")
    candidate(monkeypatch, tmp_path, "hang", after=0)
    monkeypatch.delenv("TANDEM_PROXY_ONCE")  # every restart hangs too
    journal = tmp_path / "mute.sqlite"
    code, summary, _ = run(capsys, journal, strategy, "--bars", "300", "--shadow-ocaml",
                           "--shadow-timeout", "0.2", "--shadow-strict")
    shadow = summary["shadow"]
    assert code == 1
    assert trades(journal, summary["run_id"]) == expected
    assert shadow["errors"] >= 1 and shadow["compared"] == 0
    assert "did not answer" in shadow["first_error"]


def test_corrupt_reply_is_a_protocol_error_and_the_candidate_is_replaced(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    strategy = SMA_TREND
    argv = ("--bars", "3000")
    expected = baseline(capsys, tmp_path, strategy, *argv)
    candidate(monkeypatch, tmp_path, "corrupt", after=500)  # more batches to come
    journal = tmp_path / "corrupt.sqlite"
    code, summary, _ = run(capsys, journal, strategy, *argv, "--shadow-ocaml")
    shadow = summary["shadow"]
    assert code == 0
    assert trades(journal, summary["run_id"]) == expected
    assert shadow["errors"] == 1 and shadow["restarts"] == 1
    assert "corrupt reply: frame length 3" in shadow["first_error"]
    assert shadow["mismatches"] == 0 and shadow["compared"] > 0


def test_stream_the_candidate_refuses_is_an_error_and_the_others_go_on(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    strategy = write(tmp_path, "many.lua", MANY_PARAMS)
    argv = ("--bars", "600")
    expected = baseline(capsys, tmp_path, strategy, *argv)
    candidate(monkeypatch, tmp_path, "refuse", after=1)  # the first OPEN_STREAM
    journal = tmp_path / "refuse.sqlite"
    code, summary, err = run(capsys, journal, strategy, *argv, "--shadow-ocaml",
                             "--shadow-strict")
    shadow = summary["shadow"]
    assert code == 1 and "1 shadow error(s)" in err
    assert "OCaml refused to open ema(5): refused by the test double" in err
    assert trades(journal, summary["run_id"]) == expected
    assert shadow["errors"] == 1 and shadow["lost_streams"] == 1 and shadow["restarts"] == 0
    assert shadow["mismatches"] == 0 and shadow["compared"] > 0


# -- a lying candidate ---------------------------------------------------------------


def test_lying_candidate_is_recorded_with_context_and_fails_strict(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    strategy = SMA_TREND
    expected = baseline(capsys, tmp_path, strategy, "--bars", "400")
    candidate(monkeypatch, tmp_path, "lie", after=100)
    journal = tmp_path / "lie.sqlite"
    code, summary, err = run(capsys, journal, strategy, "--bars", "400", "--shadow-ocaml",
                             "--shadow-strict")
    shadow = summary["shadow"]
    assert code == 1 and "--shadow-strict: 1 mismatch(es)" in err
    assert trades(journal, summary["run_id"]) == expected
    assert shadow["mismatches"] == 1 and shadow["errors"] == 0

    (row,) = mismatches(journal, summary["run_id"])
    told, lied = (int(x, 16) for x in (tmp_path / "lies.txt").read_text().split())

    def as_float(bits: int) -> float:
        return float(struct.unpack("<d", struct.pack("<Q", bits))[0])

    assert (row["symbol"], row["indicator"], json.loads(row["params"])) == ("BTCUSDT", "sma", [10])
    assert row["output"] == "value"
    assert row["python_value"] == as_float(told)  # the honest OCaml value is Python's
    assert row["ocaml_value"] == as_float(lied)
    assert row["ulp_distance"] == 1 << 30
    assert row["scaled_error"] > 1.0
    expected_error = abs(as_float(told) - as_float(lied)) / (1e-9 * row["python_value"])
    assert row["scaled_error"] >= expected_error * 0.9  # the bound's scale is max|input|
    with sqlite3.connect(journal) as db:
        first, last = db.execute("SELECT MIN(timestamp), MAX(timestamp) FROM transitions"
                                 " WHERE run_id = ?", (summary["run_id"],)).fetchone()
    assert first <= row["timestamp"] <= last
    assert row["timestamp"] % 60_000 == 0  # a bar time (1-minute bars)
    assert "shadow MISMATCH BTCUSDT" in err and "sma(10).value" in err


def test_one_ulp_lie_is_inside_the_contract(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    strategy = SMA_TREND
    candidate(monkeypatch, tmp_path, "lie_low", after=100)
    journal = tmp_path / "lie_low.sqlite"
    code, summary, _ = run(capsys, journal, strategy, "--bars", "400", "--shadow-ocaml",
                           "--shadow-strict")
    shadow = summary["shadow"]
    assert code == 0
    assert (tmp_path / "lies.txt").exists()
    assert shadow["mismatches"] == 0 and shadow["not_identical"] == 1
    assert shadow["max_ulp"] == 1 and 0.0 < shadow["max_scaled_error"] < 1.0
    assert mismatches(journal, summary["run_id"]) == []
