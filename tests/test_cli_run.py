"""``python -m engine run``: bad input exits non-zero without a traceback; the
--json summary agrees with the journal; determinism; independent symbols."""

from __future__ import annotations

import json
import math
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.cli import main

ROOT = Path(__file__).resolve().parent.parent

#: Enters long on every second idle bar with a stop and a target around the close;
#: exits after 3 bars in position; so trades, stops and targets all happen.
CHURN = """
params = { qty = 0.1, hold = 3 }  -- 0.1 BTC at ~42,000 fits the 10,000 cash

function detect_opportunity(m, ctx, ind)
  if m.timestamp % 120000 == 0 then return { seen = m.close } end
  return nil
end

function filter_commitment(m, ctx, ind)
  held = 0  -- a Lua global: the context is read-only outside detect_opportunity
  return { action = "enter_long", quantity = params.qty,
           stop_loss = m.close * 0.999, take_profit = m.close * 1.001 }
end

function manage_position(m, ctx, ind)
  held = held + 1
  if held >= params.hold then return { action = "exit", reason = "held" } end
  return nil
end
"""

#: Uses indicators: long above the 10-bar SMA, flat below; shorts never.
SMA_TREND = Path(__file__).resolve().parent / "data" / "sma_trend.lua"


@pytest.fixture
def churn(tmp_path: Path) -> Path:
    path = tmp_path / "churn.lua"
    path.write_text(CHURN)
    return path


@pytest.fixture
def trend(tmp_path: Path) -> Path:
    path = tmp_path / "trend.lua"
    path.write_text(SMA_TREND.read_text())
    return path


def run_json(
    capsys: pytest.CaptureFixture[str], journal: Path, *argv: str
) -> tuple[int, dict[str, Any]]:
    code = main(["run", "--journal", str(journal), "--json", *argv])
    out = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(out[-1])


def trades(journal: Path, run_id: object, symbol: str | None = None) -> list[tuple[Any, ...]]:
    sql = ("SELECT symbol, side, quantity, entry_timestamp, entry_price, exit_timestamp,"
           " exit_price, exit_reason, fees, pnl FROM trades WHERE run_id = ?")
    args: list[object] = [run_id]
    if symbol is not None:
        sql += " AND symbol = ?"
        args.append(symbol)
    with sqlite3.connect(journal) as db:
        return db.execute(sql + " ORDER BY id", args).fetchall()


# -- errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--feed", "kraken"], "invalid feed 'kraken'"),
        (["--param", "qty"], "expected NAME=VALUE"),
        (["--param", "nosuch=1"], "nosuch"),
        (["--bars", "0"], "--bars 0"),
        (["--symbols", "BTC USDT"], "invalid symbol"),
        (["--max-errors", "0"], "--max-errors 0"),
        (["--fee-bps", "-1"], "--fee-bps -1"),
        (["--feed", "csv:/nonexistent/bars.csv"], "/nonexistent/bars.csv"),
        (["--strategy-for", "ETHUSDT=x.lua"], "ETHUSDT is not in --symbols"),
    ],
)
def test_bad_options_exit_2_with_a_clear_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, churn: Path, extra: list[str],
    message: str,
) -> None:
    code = main(["run", "--strategy", str(churn), "--journal", str(tmp_path / "j.sqlite"),
                 *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and message in err
    assert "Traceback" not in err


def test_missing_strategy_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = main(["run", "--strategy", str(tmp_path / "nope.lua")])
    err = capsys.readouterr().err
    assert code == 2 and "nope.lua" in err and "does not exist" in err


def test_lua_syntax_error_names_file_and_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.lua"
    bad.write_text("function detect_opportunity(m, c, i)\n  return {\nend\n")
    code = main(["run", "--strategy", str(bad), "--journal", str(tmp_path / "j.sqlite")])
    err = capsys.readouterr().err
    assert code == 2 and "bad.lua:" in err and "Traceback" not in err


def test_unusable_journal_path(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                               churn: Path) -> None:
    code = main(["run", "--strategy", str(churn), "--journal", str(tmp_path), "--bars", "10"])
    err = capsys.readouterr().err
    assert code == 2 and "--journal" in err


def test_a_real_process_prints_no_traceback(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "engine", "run", "--strategy", str(tmp_path / "missing.lua")],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
    )
    assert out.returncode == 2
    assert "missing.lua" in out.stderr and "Traceback" not in out.stderr


# -- the summary and the journal ------------------------------------------------


def test_json_summary_shape_and_agreement_with_the_journal(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, churn: Path
) -> None:
    journal = tmp_path / "j.sqlite"
    code, s = run_json(capsys, journal, "--strategy", str(churn), "--symbols",
                       "BTCUSDT,ETHUSDT", "--bars", "400", "--seed", "3")
    assert code == 0
    for key in ("bars", "trades", "pnl", "open_positions", "rejected_bars", "duplicate_bars",
                "strategy_errors", "shadow", "symbols", "run_id"):
        assert key in s
    assert s["shadow"] == {"compared": 0, "mismatches": 0, "errors": 0, "dropped": 0}
    symbols = s["symbols"]
    assert isinstance(symbols, dict) and list(symbols) == ["BTCUSDT", "ETHUSDT"]
    assert s["bars"] == 800 and all(v["bars"] == 400 for v in symbols.values())
    rows = trades(journal, s["run_id"])
    assert s["trades"] == len(rows) > 20
    assert math.isclose(s["pnl"], math.fsum(r[9] for r in rows), abs_tol=1e-9)
    for name, detail in symbols.items():
        mine = [r for r in rows if r[0] == name]
        assert detail["trades"] == len(mine)
        wins = sum(1 for r in mine if r[9] > 0)
        assert detail["wins"] == wins
        assert math.isclose(detail["fees"], math.fsum(r[8] for r in mine), abs_tol=1e-9)
    assert s["open_positions"] == sum(v["open_position"] is not None for v in symbols.values())
    with sqlite3.connect(journal) as db:
        status, summary = db.execute("SELECT status, summary FROM runs WHERE id = ?",
                                     (s["run_id"],)).fetchone()
    assert status == "finished" and json.loads(summary)["trades"] == s["trades"]


def test_trade_pnl_follows_the_fee_formula(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, churn: Path
) -> None:
    journal = tmp_path / "j.sqlite"
    code, s = run_json(capsys, journal, "--strategy", str(churn), "--bars", "200",
                       "--fee-bps", "25")
    assert code == 0
    for r in trades(journal, s["run_id"]):
        qty, entry, exit_ = r[2], r[4], r[6]
        fees = 25e-4 * (entry + exit_) * qty
        assert math.isclose(r[8], fees, rel_tol=1e-12)
        assert math.isclose(r[9], (exit_ - entry) * qty - fees, abs_tol=1e-9)


def test_same_seed_same_trades_other_seed_other_trades(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, churn: Path
) -> None:
    journal = tmp_path / "j.sqlite"
    base = ("--strategy", str(churn), "--bars", "300")
    _, a = run_json(capsys, journal, *base, "--seed", "11")
    _, b = run_json(capsys, journal, *base, "--seed", "11")
    _, c = run_json(capsys, journal, *base, "--seed", "12")
    ta, tb, tc = (trades(journal, x["run_id"]) for x in (a, b, c))
    assert ta == tb and len(ta) > 10
    assert ta != tc


def test_symbols_with_different_strategies_are_independent(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, churn: Path, trend: Path
) -> None:
    journal = tmp_path / "j.sqlite"
    _, both = run_json(capsys, journal, "--strategy", str(churn), "--symbols",
                       "BTCUSDT,ETHUSDT", "--strategy-for", f"ETHUSDT={trend}",
                       "--bars", "500", "--seed", "5")
    _, btc = run_json(capsys, journal, "--strategy", str(churn), "--symbols", "BTCUSDT",
                      "--bars", "500", "--seed", "5")
    _, eth = run_json(capsys, journal, "--strategy", str(trend), "--symbols", "ETHUSDT",
                      "--bars", "500", "--seed", "5")
    both_btc = trades(journal, both["run_id"], "BTCUSDT")
    both_eth = trades(journal, both["run_id"], "ETHUSDT")
    assert both_btc == trades(journal, btc["run_id"]) and len(both_btc) > 10
    assert both_eth == trades(journal, eth["run_id"]) and len(both_eth) > 3
    symbols = both["symbols"]
    assert isinstance(symbols, dict)
    assert symbols["ETHUSDT"]["strategy"] == str(trend)


def test_open_position_at_feed_end_stays_open(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    hold = tmp_path / "hold.lua"
    hold.write_text(
        "function detect_opportunity(m, c, i) return {} end\n"
        "function filter_commitment(m, c, i) return {action='enter_short', quantity=0.2} end\n"
        "function manage_position(m, c, i) return nil end\n"
    )
    code, s = run_json(capsys, tmp_path / "j.sqlite", "--strategy", str(hold), "--bars", "50")
    assert code == 0 and s["trades"] == 0 and s["open_positions"] == 1
    symbols = s["symbols"]
    assert isinstance(symbols, dict)
    pos = symbols["BTCUSDT"]["open_position"]
    assert pos["side"] == "short" and pos["quantity"] == 0.2  # 0.2 x ~42,000 fits 10,000 cash
    # unrealized = short's gross P&L at the last close minus the entry fee already paid
    expected = (pos["entry_price"] - pos["last_price"]) * 0.2 - 10e-4 * pos["entry_price"] * 0.2
    assert math.isclose(pos["unrealized_pnl"], expected, rel_tol=1e-12)
    assert math.isclose(s["unrealized_pnl"], expected, rel_tol=1e-12)


def test_strategy_errors_stop_the_symbol_and_exit_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    erring = tmp_path / "erring.lua"
    erring.write_text(
        "function detect_opportunity(m, c, i) return {} end\n"
        "function filter_commitment(m, c, i)\n"
        "  return {action='enter_long', quantity=0.1, stop_loss=m.close*0.995}\n"
        "end\n"
        "function manage_position(m, c, i) error('cannot manage') end\n"
    )
    journal = tmp_path / "j.sqlite"
    code, s = run_json(capsys, journal, "--strategy", str(erring), "--bars", "3000",
                       "--max-errors", "4")
    assert code == 1
    assert s["strategy_errors"] == 4 and s["stopped_symbols"] == ["BTCUSDT"]
    # the stop placed before the errors still closed the position later
    rows = trades(journal, s["run_id"])
    assert [r[7] for r in rows] == ["stop_loss"]
    with sqlite3.connect(journal) as db:
        msgs = [m for (m,) in db.execute("SELECT message FROM strategy_errors ORDER BY id")]
    assert len(msgs) == 5 and "erring.lua:5" in msgs[0] and "4 consecutive" in msgs[-1]


def test_human_summary_shows_each_symbols_journaled_figures(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, churn: Path
) -> None:
    journal = tmp_path / "j.sqlite"
    code = main(["run", "--strategy", str(churn), "--symbols", "BTCUSDT,SOLUSDT",
                 "--bars", "200", "--journal", str(journal)])
    out = capsys.readouterr().out
    assert code == 0
    assert "win %" in out and "PF" in out and "max DD" in out
    for symbol in ("BTCUSDT", "SOLUSDT"):
        # the results table comes first (an open-positions table may follow)
        line = next(x for x in out.splitlines() if x.strip().startswith(symbol))
        cells = line.split()
        rows = trades(journal, 1, symbol)
        pnl = math.fsum(r[9] for r in rows)
        assert cells[1] == "200" and cells[2] == str(len(rows))
        assert cells[4] == f"{pnl:,.2f}"


# -- observer wiring and signals --------------------------------------------------


class FakeObserver:
    """Records what the run reports; its summary must reach the JSON under "shadow"."""

    def __init__(self) -> None:
        self.opened: list[tuple[str, str, tuple[object, ...]]] = []
        self.bars = 0
        self.closed = 0

    def stream_opened(self, symbol: str, name: str, params: tuple[object, ...],
                      history: object, value: object) -> None:
        self.opened.append((symbol, name, params))

    def bar_values(self, symbol: str, bar: object, values: object) -> None:
        self.bars += 1

    def summary(self) -> dict[str, object]:
        return {"compared": self.bars, "mismatches": 0, "errors": 0, "dropped": 0,
                "closed_before_summary": self.closed}

    def close(self) -> None:
        self.closed += 1


def test_observer_sees_the_streams_and_its_summary_is_reported(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, trend: Path
) -> None:
    from engine.run.command import run_main
    from engine.run.config import RunConfig, RunOutput

    observers: list[FakeObserver] = []
    journal = tmp_path / "j.sqlite"
    config = RunConfig(strategy=trend, symbols=("BTCUSDT", "ETHUSDT"), bars=100, journal=journal)

    def factory(given: RunConfig, sink: object) -> FakeObserver:
        assert given is config and getattr(sink, "path", None) == journal  # (config, journal)
        observers.append(FakeObserver())
        return observers[-1]

    assert run_main(config, RunOutput(json=True), factory) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    (obs,) = observers
    assert sorted(obs.opened) == [("BTCUSDT", "sma", (10,)), ("ETHUSDT", "sma", (10,))]
    assert obs.closed == 1
    # every bar after the stream opened (bar 0 of each symbol) is reported once
    assert summary["shadow"]["compared"] == obs.bars == 2 * 99
    assert summary["shadow"]["closed_before_summary"] == 1


def test_sigint_prints_the_summary_and_marks_the_run_interrupted(
    tmp_path: Path, churn: Path
) -> None:
    import signal
    import time

    journal = tmp_path / "j.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine", "run", "--strategy", str(churn), "--bars", "5000000",
         "--journal", str(journal), "--json"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with sqlite3.connect(journal, timeout=1.0) as db:
                if db.execute("SELECT COUNT(*) FROM trades").fetchone()[0] >= 20:
                    break
        except sqlite3.OperationalError:
            pass
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["status"] == "interrupted" and 0 < summary["bars"] < 5_000_000
    rows = trades(journal, summary["run_id"])
    assert summary["trades"] == len(rows) >= 20
    with sqlite3.connect(journal) as db:
        (status,) = db.execute("SELECT status FROM runs").fetchone()
    assert status == "interrupted"


def test_a_feed_failing_mid_run_reports_what_ran_and_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, churn: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from engine.errors import FeedError
    from engine.market.feeds import SimulatedFeed

    class Failing(SimulatedFeed):
        def iter_bars(self):  # type: ignore[no-untyped-def]
            for i, bar in enumerate(super().iter_bars()):
                if i == 300:
                    raise FeedError("data.csv: read error after line 301")
                yield bar

    monkeypatch.setattr("engine.run.session.open_feed",
                        lambda spec, symbols, **kw: Failing(symbols, seed=1, bars=1000))
    journal = tmp_path / "j.sqlite"
    code = main(["run", "--strategy", str(churn), "--journal", str(journal), "--json"])
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert code == 2 and "read error after line 301" in captured.err
    assert summary["status"] == "failed" and summary["bars"] == 300
    assert summary["trades"] == len(trades(journal, summary["run_id"])) > 0
    with sqlite3.connect(journal) as db:
        (status,) = db.execute("SELECT status FROM runs").fetchone()
    assert status == "failed"


@pytest.mark.usefixtures("ocaml_server")
def test_shadow_mode_changes_no_trade_and_reports_its_comparisons(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, trend: Path
) -> None:
    journal = tmp_path / "j.sqlite"
    base = ("--strategy", str(trend), "--symbols", "BTCUSDT,ETHUSDT", "--bars", "300")
    _, plain = run_json(capsys, journal, *base)
    code, shadow = run_json(capsys, journal, *base, "--shadow-ocaml", "--shadow-strict")
    assert code == 0
    assert trades(journal, plain["run_id"]) == trades(journal, shadow["run_id"])
    counters = shadow["shadow"]
    assert isinstance(counters, dict)
    # one sma(10) per symbol, compared on every bar from its opening bar on
    assert counters["compared"] == 2 * 300
    assert counters["mismatches"] == 0 and counters["errors"] == 0


def test_csv_feed_bad_rows_are_counted_and_journaled_with_their_lines(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, trend: Path
) -> None:
    lines = ["timestamp,open,high,low,close,volume"]
    for i in range(60):
        c = 100.0 + (i % 7)
        lines.append(f"{1_700_000_000_000 + i * 60_000},{c},{c + 1},{c - 1},{c},5")
    # lines[k] is file line k + 1 (the header is line 1)
    lines.insert(11, "1700000600000,100,101,99,oops,5")  # line 12: not a number
    lines.insert(21, "1700001500000,100,99,101,100,5")  # line 22: high < low
    lines.insert(31, lines[30])  # line 32: identical duplicate of line 31
    lines.insert(41, "1700000000000,100,101,99,100,5")  # line 42: older than the last bar
    csv = tmp_path / "bars.csv"
    csv.write_text("\n".join(lines) + "\n")
    journal = tmp_path / "j.sqlite"
    code, s = run_json(capsys, journal, "--strategy", str(trend), "--feed", f"csv:{csv}")
    assert code == 0
    assert s["rejected_bars"] == 3 and s["duplicate_bars"] == 1
    assert s["symbols"]["BTCUSDT"]["rejected_bars"] == 3
    assert s["bars"] == 60  # every good row; the bad ones never reach a runner
    with sqlite3.connect(journal) as db:
        rows = db.execute("SELECT kind, location FROM rejected_bars ORDER BY id").fetchall()
    assert rows == [("malformed", f"{csv}:12"), ("invalid", f"{csv}:22"),
                    ("out_of_order", f"{csv}:42")]


def test_non_finite_observer_values_become_null_in_the_json(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, trend: Path
) -> None:
    from engine.run.command import run_main
    from engine.run.config import RunConfig, RunOutput

    class NanObserver(FakeObserver):
        def summary(self) -> dict[str, object]:
            return {**super().summary(), "latency_ms": {"p50": float("nan"), "p99": math.inf}}

    config = RunConfig(strategy=trend, bars=20, journal=tmp_path / "j.sqlite")
    assert run_main(config, RunOutput(json=True), lambda c, j: NanObserver()) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    summary = json.loads(line, parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    assert summary["shadow"]["latency_ms"] == {"p50": None, "p99": None}
