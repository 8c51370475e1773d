"""The typed configs (engine/run/config.py) and the Python API (``engine.run.backtest``)."""

from __future__ import annotations

import contextlib
import io
import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from engine.cli import build_parser, check_config, run_config, verify_config
from engine.errors import ConfigError
from engine.run import CheckConfig, RunConfig, ShadowOptions, VerifyConfig
from engine.run.config import RunOutput

ROOT = Path(__file__).resolve().parent.parent
SMA = ROOT / "strategies" / "sma_crossover.lua"


def _readme_python_api() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Python API", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_python_api_example_runs_as_documented(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # run from a directory that looks like the repository root, keeping the journal there
    (tmp_path / "strategies").symlink_to(ROOT / "strategies")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(_readme_python_api(), "README.md", "exec"), namespace)
    result = namespace["result"]
    summary = result.summary
    assert result.status == "finished" and result.failure is None
    assert summary["bars"] == 2 * 5_000  # two symbols, 5,000 simulated bars each
    assert summary["trades"] == len(result.trades) > 0
    first = out.getvalue().splitlines()[0]
    assert first == f"finished {summary['trades']} {round(summary['pnl'], 2)}"
    # the trades are the journal's rows; the typed overrides reached the strategy
    with sqlite3.connect(tmp_path / "runs.sqlite") as db:
        rows = db.execute("SELECT symbol, pnl FROM trades WHERE run_id = ? ORDER BY id",
                          (result.run_id,)).fetchall()
        (params,) = db.execute("SELECT params FROM runs WHERE id = ?",
                               (result.run_id,)).fetchone()
    assert rows == [(t["symbol"], t["pnl"]) for t in result.trades]
    assert json.loads(params)["fast"] == 10 and json.loads(params)["slow"] == 30
    # fees: 5 bps of each fill's notional (quantity × price), entry and exit
    t = result.trades[0]
    notional = t["quantity"] * (t["entry_price"] + t["exit_price"])
    assert t["fees"] == pytest.approx(notional * 5e-4)


def test_cli_defaults_are_the_configs_defaults() -> None:
    # nothing given: the parsed arguments build exactly the default configs
    parse = build_parser().parse_args
    assert run_config(parse(["run", "--strategy", str(SMA)])) == (
        RunConfig(strategy=SMA), RunOutput())
    assert check_config(parse(["check", str(SMA)])) == CheckConfig(strategy=SMA)
    assert verify_config(parse(["verify"])) == VerifyConfig()


def test_every_run_flag_reaches_its_field(tmp_path: Path) -> None:
    argv = ["run", "--strategy", str(SMA), "--strategy-for", f"ethusdt={SMA}",
            "--feed", "binance", "--symbols", "btcusdt,ETHUSDT", "--interval", "5m",
            "--bars", "7", "--seed", "3", "--param", "fast=4", "--fee-bps", "1.5",
            "--slippage-bps", "2", "--shadow-ocaml", "--shadow-strict", "--shadow-sample",
            "0.5", "--shadow-timeout", "2", "--watch", "--journal", str(tmp_path / "j"),
            "--json", "--lua-budget", "5000", "--lua-memory-mb", "8", "--max-errors", "3",
            "--window", "50", "--binance-ws-url", "ws://127.0.0.1:1",
            "--binance-rest-url", "http://127.0.0.1:2"]
    config, output = run_config(build_parser().parse_args(argv))
    assert output == RunOutput(json=True)
    assert config == RunConfig(
        strategy=SMA, strategy_for={"ETHUSDT": SMA}, feed="binance",
        symbols=("BTCUSDT", "ETHUSDT"), interval="5m", bars=7, seed=3, params={"fast": "4"},
        fee_bps=1.5, slippage_bps=2.0,
        shadow=ShadowOptions(strict=True, sample=0.5, timeout=2.0), watch=True,
        journal=tmp_path / "j", lua_budget=5000, lua_memory_mb=8.0, max_errors=3, window=50,
        binance_ws_url="ws://127.0.0.1:1", binance_rest_url="http://127.0.0.1:2")


def test_the_config_keeps_its_own_copy_of_the_params() -> None:
    params: dict[str, str | int | float | bool] = {"fast": 5}
    config = RunConfig(strategy=SMA, params=params)
    params["fast"] = 6
    assert config.params == {"fast": 5}


def test_symbols_given_as_text_are_split_not_spelled_out() -> None:
    config = RunConfig(strategy=SMA, symbols="btcusdt,ethusdt")  # type: ignore[arg-type]
    assert config.symbols == ("BTCUSDT", "ETHUSDT")
    assert config.strategy_paths() == {"BTCUSDT": SMA, "ETHUSDT": SMA}


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"strategy": Path("nope.lua")}, "strategy file nope.lua: the file does not exist"),
        ({"symbols": ("BTCUSDT", "btcusdt")}, "--symbols: BTCUSDT is listed twice"),
        ({"symbols": ("BTC USDT",)}, "--symbols: invalid symbol 'BTC USDT'"),
        ({"symbols": ()}, "--symbols: no symbol given"),
        ({"strategy_for": {"ETHUSDT": SMA}}, "ETHUSDT is not in --symbols (BTCUSDT)"),
        ({"feed": "kraken"}, "invalid feed 'kraken'"),
        ({"interval": "7x"}, "--interval: invalid interval '7x'"),
        ({"bars": 0}, "--bars 0: must be in [1, "),
        ({"bars": "5"}, "--bars '5': must be a whole number"),
        ({"bars": True}, "--bars True: must be a whole number"),
        ({"window": 1}, "--window 1: must be in [2, 1,000,000] bars"),
        ({"max_errors": 0}, "--max-errors 0"),
        ({"fee_bps": math.nan}, "--fee-bps nan: must be a finite number in [0, 10000)"),
        ({"slippage_bps": "1"}, "--slippage-bps '1': must be a number"),
        ({"seed": -1}, "--seed -1: must be in [0, 2**63)"),
        ({"lua_budget": 10}, "--lua-budget 10: must be in [1,000, "),
        ({"lua_memory_mb": math.inf}, "--lua-memory-mb inf: must be in [1, 65536]"),
        ({"params": {"no way": 1}}, "--param 'no way': a parameter name is"),
        ({"params": {"fast": [1]}}, "--param fast=[1]: must be text, a number or a boolean"),
    ],
)
def test_a_bad_run_config_names_the_option_and_the_value(
    fields: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ConfigError) as info:
        RunConfig(**{"strategy": SMA, **fields})
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"sample": 0.0}, "--shadow-sample must be in (0, 1], got 0"),
        ({"sample": 1.5}, "--shadow-sample must be in (0, 1], got 1.5"),
        ({"timeout": 0.0}, "--shadow-timeout must be a finite number of seconds > 0, got 0"),
        ({"timeout": math.inf}, "got inf"),
    ],
)
def test_bad_shadow_options(fields: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        ShadowOptions(**fields)
    assert fragment in str(info.value)


def test_check_and_verify_configs_check_their_own_ranges() -> None:
    with pytest.raises(ConfigError, match=r"--bars 10000001: must be in \[1, 10,000,000\]"):
        CheckConfig(strategy=SMA, bars=10_000_001)
    with pytest.raises(ConfigError, match=r"--bars 0: must be in \[1, 10,000,000\]"):
        VerifyConfig(bars=0)
    with pytest.raises(ConfigError, match=r"--seed 18446744073709551616"):
        VerifyConfig(seed=2**64)


def test_a_config_travels_to_a_worker_and_derives_variants() -> None:
    # what a sweep does: pickle configs into worker processes, vary one field
    import dataclasses
    import pickle

    config = RunConfig(strategy=SMA, symbols=("BTCUSDT", "ETHUSDT"),
                       shadow=ShadowOptions(sample=0.5))
    assert pickle.loads(pickle.dumps(config)) == config
    variant = dataclasses.replace(config, params={"fast": 7})
    assert variant.params == {"fast": 7} and variant.symbols == config.symbols
    with pytest.raises(ConfigError, match="--window 1"):  # a variant is checked again
        dataclasses.replace(config, window=1)


# -- execution: --fill, --cash, --leverage, --history (issue 12) ----------------------


@pytest.mark.parametrize(("field", "value", "words"), [
    ("fill", "open", "--fill 'open': must be close or next-open"),
    ("cash", 0.0, "--cash 0.0: must be a finite number > 0"),
    ("cash", math.inf, "--cash inf: must be a finite number > 0"),
    ("cash", "10", "--cash '10': must be a number"),
    ("leverage", 0.5, "--leverage 0.5: must be in [1, 100]"),
    ("leverage", 101.0, "--leverage 101.0: must be in [1, 100]"),
    ("leverage", math.nan, "--leverage nan: must be in [1, 100]"),
    ("history", -1, "--history -1: must be in [0, 1,000] bars (at most --window)"),
    ("history", 1001, "--history 1001: must be in [0, 1,000]"),
    ("history", 2.5, "--history 2.5: must be a whole number"),
])
def test_bad_execution_options_name_the_flag(field: str, value: object, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        RunConfig(strategy=SMA, **{field: value})  # type: ignore[arg-type]
    assert words in str(info.value)


def test_execution_defaults_and_the_journal_row(tmp_path: Path) -> None:
    from engine.run import backtest
    from engine.state import Execution, FillMode

    default = RunConfig(strategy=SMA)
    assert default.execution() == Execution(FillMode.CLOSE, 10_000.0, 1.0)
    assert default.history_bars() == 200
    assert RunConfig(strategy=SMA, window=50).history_bars() == 50  # capped by the window
    config = RunConfig(strategy=SMA, bars=300, fill="next-open", cash=5_000, leverage=2,
                       journal=tmp_path / "j.sqlite")
    result = backtest(config)
    with sqlite3.connect(tmp_path / "j.sqlite") as db:
        row = db.execute("SELECT fill, starting_equity, leverage FROM runs WHERE id = ?",
                         (result.run_id,)).fetchone()
    assert row == ("next-open", 5_000.0, 2.0)


def test_the_command_line_builds_the_execution(tmp_path: Path) -> None:
    args = build_parser().parse_args(["run", "--strategy", str(SMA), "--fill", "next-open",
                                      "--cash", "2500", "--leverage", "3", "--history", "50"])
    config, _ = run_config(args)
    assert (config.fill, config.cash, config.leverage, config.history) == (
        "next-open", 2500.0, 3.0, 50)


def test_an_old_journal_gains_the_execution_columns(tmp_path: Path) -> None:
    from engine.run.journal import Journal

    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:  # the runs table as it was before issue 12
        db.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, started_at TEXT NOT NULL, "
                   "ended_at TEXT, status TEXT NOT NULL, command TEXT NOT NULL, "
                   "strategy_path TEXT NOT NULL, strategy_sha256 TEXT NOT NULL, "
                   "params TEXT NOT NULL, symbols TEXT NOT NULL, feed TEXT NOT NULL, "
                   "seed INTEGER, fee_bps REAL NOT NULL, slippage_bps REAL NOT NULL, "
                   "summary TEXT)")
        db.execute("INSERT INTO runs VALUES (1, 't', NULL, 'finished', '[]', 's', 'h', '{}',"
                   " '[]', 'sim', 1, 10, 0, NULL)")
    with Journal(path):
        pass
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT fill, starting_equity, leverage FROM runs").fetchall() == [
            (None, None, None)]
