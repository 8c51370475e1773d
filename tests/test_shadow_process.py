"""Shadow mode in a forked process (bridge/shadow/process.py).

The end-to-end tests run ``python -m engine run`` as a subprocess: a process
with one thread, so it forks; in pytest's own process other tests may have left
threads, and the factory would (rightly) keep the check in the run. They check
what the process must keep of the in-run check: the same counts, mismatch rows
in the run's journal, log lines on the run's stderr, and a run that survives
the process dying.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import sqlite3
import stat
import subprocess
import sys
import threading
from array import array
from pathlib import Path
from typing import Any

import pytest

from bridge.shadow.factory import make_in_run_shadow_observer, make_shadow_observer
from bridge.shadow.observer import ShadowObserver
from bridge.shadow.pipe import encode, read_frames
from bridge.shadow.process import ShadowProcess, _as_floats, run_cpu
from bridge.shadow.settings import ShadowConfig
from bridge.transport import DEFAULT_EXECUTABLE
from engine.market.bar import Bar
from engine.observer import IndicatorValue, Params
from engine.run.config import RunConfig, ShadowOptions
from engine.run.trades import BarTrading
from engine.state.actions import ActionError, Exit
from engine.state.orders import Order, OrderKind
from engine.state.position import ClosedTrade, ExitReason, Position, Side

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
ALL_INDICATORS = DATA / "all_indicators.lua"
PROXY = DATA / "shadow_proxy.py"
SERVER = Path(os.environ.get("TANDEM_OCAML_BIN") or DEFAULT_EXECUTABLE)
pytestmark = pytest.mark.usefixtures("ocaml_server")


def engine_run(tmp_path: Path, name: str, *argv: str, env: dict[str, str] | None = None
               ) -> tuple[int, dict[str, Any], str, Path]:
    """``python -m engine run`` in a fresh process: (exit code, --json summary,
    stderr, journal)."""
    journal = tmp_path / f"{name}.sqlite"
    done = subprocess.run(
        [sys.executable, "-m", "engine", "run", "--strategy", str(ALL_INDICATORS),
         "--journal", str(journal), "--json", *argv],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, **(env or {})},
    )
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1]), done.stderr, journal


def proxy_env(tmp_path: Path, mode: str, after: int) -> dict[str, str]:
    """The environment pointing shadow mode at tests/data/shadow_proxy.py."""
    script = tmp_path / f"candidate_{mode}.sh"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{PROXY}" "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return {"TANDEM_OCAML_BIN": str(script), "TANDEM_PROXY_TARGET": str(SERVER),
            "TANDEM_PROXY_MODE": mode, "TANDEM_PROXY_AFTER": str(after),
            "TANDEM_PROXY_ONCE": str(tmp_path / f"{mode}.once")}


def trades(journal: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(journal) as db:
        return db.execute("SELECT symbol, side, quantity, entry_timestamp, entry_price,"
                          " exit_timestamp, exit_price, fees, pnl FROM trades ORDER BY id"
                          ).fetchall()


# -- end to end ------------------------------------------------------------------------


def test_process_and_in_run_check_the_same_values_and_trades(tmp_path: Path) -> None:
    argv = ("--bars", "3000", "--shadow-ocaml", "--shadow-strict")
    code, forked, _, j1 = engine_run(tmp_path, "forked", *argv)
    code_in, in_run, _, j2 = engine_run(tmp_path, "in_run", *argv, "--shadow-in-run")
    assert (code, code_in) == (0, 0)
    a, b = forked["shadow"], in_run["shadow"]
    assert (a["runs_in"], b["runs_in"]) == ("process", "run")
    # every served value of the 3000 bars, and every bar's trading, in both
    for key in ("compared", "trade_bars", "fills_compared", "not_identical"):
        assert a[key] == b[key], key
    assert a["compared"] > 3000 and a["trade_bars"] == 3000
    assert (a["mismatches"], a["errors"], a["dropped"]) == (0, 0, 0)
    assert trades(j1) == trades(j2) != []


def test_a_lie_found_in_the_process_reaches_the_run_journal_and_stderr(tmp_path: Path) -> None:
    code, summary, err, journal = engine_run(
        tmp_path, "lie", "--bars", "2000", "--shadow-ocaml", "--shadow-strict",
        env=proxy_env(tmp_path, "lie", 100))
    shadow = summary["shadow"]
    assert shadow["runs_in"] == "process"
    assert code == 1 and shadow["mismatches"] >= 1
    with sqlite3.connect(journal) as db:
        rows = db.execute("SELECT indicator, python_value, ocaml_value FROM shadow_mismatches"
                          ).fetchall()
    assert len(rows) == shadow["mismatches"]
    assert all(p != o for _, p, o in rows)
    assert "shadow MISMATCH BTCUSDT" in err  # logged by the process, written by the run


def test_the_process_killed_mid_run_is_counted_and_the_run_is_intact(tmp_path: Path) -> None:
    argv = ("--bars", "4000", "--shadow-ocaml")
    *_, j_plain = engine_run(tmp_path, "plain", "--bars", "4000")
    code, summary, err, journal = engine_run(tmp_path, "killed", *argv,
                                             env=proxy_env(tmp_path, "kill_client", 200))
    shadow = summary["shadow"]
    assert code == 0 and summary["status"] == "finished"
    assert trades(journal) == trades(j_plain) != []
    assert shadow["errors"] >= 1 and shadow["runs_in"] == "process"
    assert "shadow process" in shadow["first_error"] and "signal 9" in shadow["first_error"]
    assert "shadow process" in err


def test_the_process_and_its_servers_keep_off_the_runs_cpu(tmp_path: Path) -> None:
    log = tmp_path / "affinity.txt"
    env = {**proxy_env(tmp_path, "pass", 0), "TANDEM_PROXY_AFFINITY": str(log)}
    code, summary, _, _ = engine_run(tmp_path, "affinity", "--bars", "300", "--shadow-ocaml",
                                     env=env)
    assert code == 0 and summary["shadow"]["runs_in"] == "process"
    assert summary["shadow"]["errors"] == 0 and summary["shadow"]["compared"] > 0
    allowed = len(os.sched_getaffinity(0))  # the run's (inherited from this process)
    servers = [line.split() for line in log.read_text().splitlines()]
    assert len(servers) == 2  # the indicator server and the book server
    assert all(len(cpus) == max(1, allowed - 1) for cpus in servers), servers


def test_avoid_cpu_leaves_a_process_every_cpu_but_the_runs() -> None:
    assert run_cpu() in os.sched_getaffinity(0)
    allowed = sorted(os.sched_getaffinity(0))
    script = ("import os; from bridge.shadow.process import avoid_cpu; "
              f"avoid_cpu({allowed[0]}); print(sorted(os.sched_getaffinity(0)))")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    expected = allowed[1:] or allowed  # the only CPU is never taken away
    assert done.stdout.strip() == str(expected)


# -- the factory -------------------------------------------------------------------------


def _config(in_run: bool = False) -> RunConfig:
    return RunConfig(strategy=ALL_INDICATORS, shadow=ShadowOptions(in_run=in_run))


def test_factory_keeps_the_check_in_the_run_when_other_threads_run() -> None:
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        observer = make_shadow_observer(_config())
        assert isinstance(observer, ShadowObserver)  # forking now would copy held locks
        observer.close()
    finally:
        release.set()
        other.join()


def test_factory_honours_in_run_and_the_sweep_factory_never_forks() -> None:
    for observer in (make_shadow_observer(_config(in_run=True)),
                     make_in_run_shadow_observer(_config())):
        assert isinstance(observer, ShadowObserver)
        observer.close()
        assert observer.summary()["runs_in"] == "run"


def test_an_observer_made_for_a_run_that_fails_to_start_is_closed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Made before the runners: a failure building them must still end it (a shadow
    process would otherwise outlive the run)."""
    from engine.run import session

    closed: list[bool] = []

    class Observer:
        def close(self) -> None:
            closed.append(True)

    def broken_runner(*args: object, **kwargs: object) -> None:
        raise RuntimeError("no runner")

    monkeypatch.setattr(session, "_runner", broken_runner)
    config = RunConfig(strategy=ALL_INDICATORS, bars=10, journal=tmp_path / "j.sqlite")
    with pytest.raises(RuntimeError, match="no runner"):
        session.backtest(config, observer_factory=lambda c, j: Observer())  # type: ignore[arg-type,return-value]
    assert closed == [True]


# -- the run's side, unit by unit -----------------------------------------------------------


def _bar(i: int) -> Bar:
    return Bar("BTCUSDT", 1_700_000_000_000 + 60_000 * i, 100.0, 101.0, 99.0, 100.5, 1.0)


def _quiet(equity: float) -> BarTrading:
    return BarTrading(None, None, (), "idle", None, 0, None, False, None, 0.0, 0.0, equity)


def test_a_batch_pickle_refuses_stops_shadow_with_a_counted_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without forking: a stand-in process that exits at once, pipes held here."""
    monkeypatch.setattr("bridge.shadow.process.FLUSH_ITEMS", 1)  # a batch per call
    stand_in = subprocess.Popen([sys.executable, "-c", "pass"])
    up_r, up_w = os.pipe()
    os.close(up_w)  # nothing comes up
    down_r, down_w = os.pipe()
    forked = ShadowProcess(_config(), None, stand_in.pid, down_w, up_r)
    unpicklable = _quiet(1.0)._replace(result=lambda: None)  # type: ignore[arg-type]
    forked.bar_traded("BTCUSDT", _bar(0), unpicklable)
    forked.bar_traded("BTCUSDT", _bar(1), _quiet(1.0))
    forked.close()
    assert os.read(down_r, 1 << 16) == b""  # nothing was sent: no half batch either
    os.close(down_r)
    summary = forked.summary()
    assert summary["errors"] == 1 and summary["runs_in"] == "process"
    assert "could not be sent" in str(summary["gave_up"])
    assert summary["dropped"] == 1  # the bar after the stop
    assert summary["compared"] == 0


def test_a_message_the_run_fails_to_handle_is_logged_and_reading_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A bug handling one message (here, a journal that refuses a row) must not stop
    the reader: the process would block on a full pipe and the run's close wait."""
    class RefusingJournal:
        def record_mismatch(self, *row: object) -> None:
            raise RuntimeError("disk on fire")

    stand_in = subprocess.Popen([sys.executable, "-c", "pass"])
    up_r, up_w = os.pipe()
    down_r, down_w = os.pipe()
    os.write(up_w, encode(("mismatch", ("BTCUSDT", 1, "sma", [3], "value", 1.0, 2.0, 9.0, 1)))
             + encode(("summary", {**_zero_summary(), "compared": 7})))
    os.close(up_w)
    forked = ShadowProcess(_config(), RefusingJournal(), stand_in.pid, down_w, up_r)
    forked.close()
    os.close(down_r)
    summary = forked.summary()
    assert summary["compared"] == 7 and summary["errors"] == 0
    assert "internal error handling the shadow process's 'mismatch'" in caplog.text


def _zero_summary() -> dict[str, Any]:
    observer = ShadowObserver(ShadowConfig(), start=False)
    return dict(observer.summary())


def test_served_values_travel_as_floats_with_nan_for_none() -> None:
    flat = _as_floats([1.5, None, 2.0])
    assert flat[0] == 1.5 and math.isnan(flat[1]) and flat[2] == 2.0
    served: list[tuple[str, Params, IndicatorValue]] = [
        ("sma", (3,), 4.0), ("macd", (12, 26, 9), (1.0, 2.0, 3.0)), ("ema", (5,), None)]
    per_stream = _as_floats(served)
    assert per_stream[:4] == [4.0, 1.0, 2.0, 3.0] and math.isnan(per_stream[4])
    assert len(per_stream) == 5


# -- what crosses the pipe ------------------------------------------------------------------


def test_frames_split_across_reads_arrive_whole_and_a_cut_frame_is_dropped() -> None:
    down, up = os.pipe()
    messages = [("summary", {"compared": 3}), ([(1, "X", (1, 2.0), 2)], array("d", [1.0, 2.0]))]
    data = b"".join(encode(m) for m in messages)
    cut = encode(("log", "tandem", 30, "never whole"))
    with os.fdopen(up, "wb", buffering=0) as writer:
        writer.write(data[:3])  # a header cut in two
        writer.write(data[3:] + cut[:-1])
    got = list(read_frames(down))
    os.close(down)
    assert got == messages


def test_records_and_refusals_survive_pickling() -> None:
    pos = Position("X", Side.SHORT, 2.0, 10.0, 5, 0.1, 11.0, None, 7)
    trade = ClosedTrade("X", Side.LONG, 1.0, 1, 9.0, 2, 9.5, 0.2, 0.3, ExitReason.STOP_LOSS)
    order = Order(OrderKind.LIMIT, Side.LONG, 9.0, 3, 1, "X", Exit(reason="done"))
    for record in (pos, trade, order):
        back = pickle.loads(pickle.dumps(record))
        assert back == record and type(back) is type(record)
    assert pickle.loads(pickle.dumps(pos)).bars_held == 7
    refusal = ActionError("exit", "quantity", threading.Lock(), "must be a number", "idle")
    back = pickle.loads(pickle.dumps(refusal))
    assert type(back) is ActionError and str(back) == str(refusal)
    assert (back.action, back.field, back.problem, back.state) == (
        "exit", "quantity", "must be a number", "idle")
    assert back.value == repr(refusal.value)  # a value pickle refuses travels as its repr


@pytest.mark.parametrize(("runs_in", "label"), [("process", "shadow (forked process): "),
                                                ("run", "shadow (in the run): "),
                                                (None, "shadow: ")])
def test_the_counters_line_says_where_shadow_checked(runs_in: str | None, label: str) -> None:
    from engine.run.report import _counters_line

    shadow = {"compared": 5, "mismatches": 0, "errors": 0, "dropped": 0, "runs_in": runs_in}
    summary: dict[str, Any] = {"rejected_bars": 0, "duplicate_bars": 0, "strategy_errors": 0,
                               "shadow": shadow, "journal": "j", "run_id": 1, "elapsed_s": 0.1}
    assert f"{label}compared 5, mismatches 0" in _counters_line(summary)  # None: an old run
