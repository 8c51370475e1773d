"""``python -m engine check FILE``."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_strategy_support import write

from engine.cli import main

STRATEGIES = Path(__file__).resolve().parent.parent / "strategies"


def test_check_of_a_good_strategy(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", str(STRATEGIES / "sma_crossover.lua"), "--bars", "1500",
                 "--param", "fast=10"])
    out = capsys.readouterr().out
    assert code == 0
    assert "params    fast=10 quantity=0.1 slow=50 stop_pct=0.01" in out
    assert "bars      1500 simulated BTCUSDT bars (seed 42)" in out
    assert "enter_long" in out and "errors    none" in out
    assert "µs per strategy call" in out


def test_check_reports_runtime_errors_with_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, """
      n = 0
      function detect_opportunity(md)
        n = n + 1
        if n % 100 == 0 then error("every hundredth bar") end
      end""")
    code = main(["check", str(path), "--bars", "300"])
    out = capsys.readouterr().out
    assert code == 1
    assert "errors    3 failed call(s):" in out
    assert "3 x strat.lua:5: every hundredth bar (in detect_opportunity)" in out


def test_check_of_a_broken_strategy_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "function detect_opportunity(\n", stubs=False)
    code = main(["check", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: strat.lua:2:") and "while loading" in err


def test_check_budget_flags_reach_the_strategy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "function detect_opportunity() for i = 1, 50000 do end end\n")
    code = main(["check", str(path), "--bars", "5", "--lua-budget", "10000"])
    out = capsys.readouterr().out
    assert code == 1 and "5 x" in out and "instruction budget of 10,000 instructions" in out


def test_check_unknown_param(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", str(STRATEGIES / "sma_crossover.lua"), "--param", "slwo=3"])
    assert code == 2
    assert "did you mean 'slow'" in capsys.readouterr().err


def test_check_shows_the_first_log_lines_and_counts_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, """
      n = 0
      function detect_opportunity(md, ctx, ind)
        n = n + 1
        ind.log("bar", n)
      end""")
    code = main(["check", str(path), "--bars", "30"])
    out = capsys.readouterr().out
    assert code == 0
    assert "log       30 line(s), the first shown:" in out
    # log(...) joins its arguments with tabs, as print does
    assert "  bar\t1\n" in out and "  bar\t20\n" in out and "bar\t21" not in out


def test_check_counts_every_failed_call_and_logs_none_of_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # check drives the run's SymbolRunner: its error policy (stop after --max-errors,
    # default 10, in a row) must not cut the report short, nor its log lines reach stderr
    path = write(tmp_path, 'function detect_opportunity() error("always") end\n')
    code = main(["check", str(path), "--bars", "40"])
    captured = capsys.readouterr()
    assert code == 1
    assert "calls     detect_opportunity 40, filter_commitment 0, manage_position 0" in captured.out
    assert "40 x strat.lua:1: always (in detect_opportunity)" in captured.out
    assert captured.err == ""


def test_check_reports_auto_exits_and_the_trades_they_close(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # enters long on every idle bar with a stop 0.01 % below and a target 0.01 % above
    # the close and never exits itself: every closed trade is an automatic exit
    path = write(tmp_path, """
      function detect_opportunity(md) return { go = 1 } end
      function filter_commitment(md)
        return { action = "enter_long", quantity = 0.1,  -- fits check's 10,000 cash
                 stop_loss = md.close * 0.9999, take_profit = md.close * 1.0001 }
      end
      function manage_position(md) return nil end""")
    code = main(["check", str(path), "--bars", "200"])
    out = capsys.readouterr().out
    assert code == 0
    actions = out.split("actions   ", 1)[1].splitlines()[0]
    counts = dict(item.rsplit(" ", 1) for item in actions.split(", "))
    trades = int(out.split("trades    ", 1)[1].split(" ", 1)[0])
    auto = sum(int(counts.get(f"auto-exit ({why})", 0)) for why in ("stop_loss", "take_profit"))
    assert trades == auto == int(counts["enter_long"]) - ("open position: none" not in out) > 0
