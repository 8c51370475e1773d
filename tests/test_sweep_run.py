"""``python -m engine sweep`` end to end: results, journal, resume, failures, jobs."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from engine.cli import main
from engine.market.feeds import SimulatedFeed
from engine.run import RunConfig, backtest

ROOT = Path(__file__).resolve().parent.parent
SMA = ROOT / "strategies" / "sma_crossover.lua"


def sweep(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    """Run the sweep command in process; (exit code, its --json object)."""
    code = main(["sweep", "--strategy", str(SMA), *args, "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(out[-1])


def plain(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ranked runs without what differs between two journals (run ids)."""
    return [{k: v for k, v in r.items() if k != "run_id"} for r in runs]


@pytest.fixture(scope="module")
def bars_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,500 simulated bars (seed 3) as a header CSV."""
    path = tmp_path_factory.mktemp("data") / "bars.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["timestamp", "open", "high", "low", "close", "volume"])
        for b in SimulatedFeed(["BTCUSDT"], seed=3, bars=1500).iter_bars():
            w.writerow([b.timestamp, repr(b.open), repr(b.high), repr(b.low), repr(b.close),
                        repr(b.volume)])
    return path


def test_a_sweep_run_equals_a_plain_csv_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, bars_csv: Path
) -> None:
    journal = tmp_path / "j.sqlite"
    code, res = sweep(capsys, "--feed", f"csv:{bars_csv}", "--grid", "fast=10",
                      "--grid", "slow=30", "--journal", str(journal), "--jobs", "1")
    assert code == 0 and res["tasks"] == 1
    ref = backtest(RunConfig(strategy=SMA, feed=f"csv:{bars_csv}", params={"fast": 10,
                                                                          "slow": 30},
                             journal=tmp_path / "plain.sqlite"))
    run = res["runs"][0]
    with sqlite3.connect(journal) as db:
        db.row_factory = sqlite3.Row
        rows = db.execute("SELECT * FROM trades WHERE run_id = ? ORDER BY id",
                          (run["run_id"],)).fetchall()
        params = json.loads(db.execute("SELECT params FROM runs WHERE id = ?",
                                       (run["run_id"],)).fetchone()[0])
    names = [k for k in rows[0].keys() if k not in ("id", "run_id")]  # noqa: SIM118 (a Row)
    trades = [{k: r[k] for k in names} for r in rows]
    assert trades == list(ref.trades) and len(trades) > 5  # every fill, bit for bit
    assert params == {"fast": 10, "slow": 30, "quantity": 0.1, "stop_pct": 0.01}
    detail = ref.summary["symbols"]["BTCUSDT"]
    assert run["statistics"]["equity_final"] == detail["equity"]
    assert run["statistics"]["trades"] == ref.summary["trades"]


def test_jobs_1_and_2_give_identical_results(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = ["--bars", "1200", "--symbols", "BTCUSDT,ETHUSDT", "--grid", "fast=5:15:5",
            "--grid", "slow=20,40", "--where", "fast < slow"]
    code1, one = sweep(capsys, *args, "--journal", str(tmp_path / "a.sqlite"), "--jobs", "1")
    code2, two = sweep(capsys, *args, "--journal", str(tmp_path / "b.sqlite"), "--jobs", "2")
    assert code1 == code2 == 0
    assert one["tasks"] == 12  # 3 fast x 2 slow (all fast < slow) x 2 symbols
    assert plain(one["runs"]) == plain(two["runs"])
    objectives = [r["objective"] for r in one["runs"]]
    assert objectives == sorted(objectives, reverse=True)


BROKEN = """
params = { mode = 0 }
function detect_opportunity(m, c, i)
  if params.mode == 1 then error("mode 1 always fails") end
  if params.mode == 2 then while true do end end   -- the instruction budget stops it
  return nil
end
function filter_commitment(m, c, i) return nil end
function manage_position(m, c, i) return nil end
"""


def test_a_failing_run_fails_alone_and_no_trades_is_a_marked_result(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "broken.lua"
    path.write_text(BROKEN)
    code = main(["sweep", "--strategy", str(path), "--bars", "300", "--grid", "mode=0,1,2",
                 "--max-errors", "2", "--lua-budget", "100000", "--jobs", "2",
                 "--journal", str(tmp_path / "j.sqlite"), "--json"])
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 1
    by_mode = {r["params"]["mode"]: r for r in res["runs"]}
    assert by_mode[0]["status"] == "finished" and by_mode[0]["objective"] is None
    assert by_mode[1]["status"] == "failed" and "mode 1 always fails" in by_mode[1]["error"]
    assert by_mode[2]["status"] == "failed" and "instruction budget" in by_mode[2]["error"]
    assert res["failed"] == 2 and res["best"] is None
    assert "undefined for every run" in res["note"]


def test_bad_input_is_one_line_on_stderr(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    j = ["--journal", str(tmp_path / "j.sqlite"), "--bars", "100"]
    cases = [
        ([], "no --grid given"),
        (["--grid", "fast=5:1:1"], "empty range"),
        (["--grid", "fast=a:b"], "must be numbers"),
        (["--grid", "fsat=1,2"], "did you mean 'fast'"),
        (["--grid", "fast=50,60", "--where", "fast < slow"], "no combination"),
        (["--grid", "fast=5", "--param", "fast=6"], "give it in one of them"),
        (["--grid", "fast=5", "--feed", "binance"], "needs a finite feed"),
        (["--grid", "fast=5", "--watch"], "do not apply to a sweep"),
        (["--grid", "fast=5", "--maximize", "sharp"], "did you mean 'sharpe'"),
    ]
    for args, message in cases:
        assert main(["sweep", "--strategy", str(SMA), *j, *args]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, (args, err)


def test_walk_forward_and_html(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    html = tmp_path / "sweep.html"
    code, res = sweep(capsys, "--bars", "1500", "--grid", "fast=5,10", "--grid", "slow=20,40",
                      "--walk-forward", "2", "--maximize", "return",
                      "--journal", str(tmp_path / "j.sqlite"), "--html", str(html))
    assert code == 0
    # 1,500 bars, 2 folds: segments [0,500) [500,1000) [1000,1500); the grid (4) runs on
    # the two in-sample segments, then each fold's best once out of sample: 8 + 2
    assert res["tasks"] == res["ran"] == 10 and len(res["runs"]) == 8
    wf = res["walk_forward"]["BTCUSDT"]
    assert [f["out_of_sample_bars"] for f in wf["folds"]] == [[500, 1000], [1000, 1500]]
    for fold in wf["folds"]:
        seg = fold["fold"] - 1
        ins = [r for r in res["runs"] if r["segment"] == seg]
        assert fold["params"] == ins[0]["params"]  # the best of its in-sample segment
        assert fold["out_of_sample"]["bars"] == 500
    assert len(wf["stitched_equity"]) == 1000
    page = html.read_text()
    assert page.count("<rect") == 4 and "walk-forward" in page.lower()


def test_kill_9_then_the_same_command_resumes(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite"
    cmd = [sys.executable, "-m", "engine", "sweep", "--strategy", str(SMA), "--bars", "20000",
           "--grid", "fast=5:30:5", "--grid", "slow=40,80", "--jobs", "2",
           "--journal", str(journal), "--json"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        done = _wait_for_rows(journal, proc, at_least=2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    with sqlite3.connect(journal) as db:
        before = db.execute("SELECT count(*) FROM sweep_runs").fetchone()[0]
    assert 2 <= before < 12, done
    _assert_no_worker_left(journal)
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["skipped"] == before and res["ran"] == 12 - before  # nothing done twice
    with sqlite3.connect(journal) as db:
        assert db.execute("SELECT count(*) FROM sweep_runs").fetchone()[0] == 12
        assert db.execute("SELECT count(*) FROM sweeps").fetchone()[0] == 1
        linked = db.execute("SELECT count(DISTINCT run_id) FROM sweep_runs").fetchone()[0]
    assert linked == 12


def _wait_for_rows(journal: Path, proc: subprocess.Popen[bytes], at_least: int) -> int:
    for _ in range(600):  # at most 60 s
        if proc.poll() is not None:
            raise AssertionError("the sweep ended before it could be killed")
        if journal.exists():
            try:
                with sqlite3.connect(journal) as db:
                    n = int(db.execute("SELECT count(*) FROM sweep_runs").fetchone()[0])
                if n >= at_least:
                    return n
            except sqlite3.OperationalError:
                pass  # the tables are not there yet
        time.sleep(0.1)
    raise AssertionError("no sweep row within 60 s")


def _assert_no_worker_left(journal: Path) -> None:
    """The pool's workers died with their parent (they share its command line)."""
    for _ in range(50):
        alive = [p for p in Path("/proc").iterdir() if p.name.isdigit()
                 and str(journal).encode() in _cmdline(p)]
        if not alive:
            return
        time.sleep(0.1)
    raise AssertionError(f"workers left behind: {alive}")


def _cmdline(p: Path) -> bytes:
    try:
        return (p / "cmdline").read_bytes()
    except OSError:
        return b""


def test_shadow_mode_in_a_sweep(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, ocaml_server: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TANDEM_OCAML_BIN", str(ocaml_server))
    journal = tmp_path / "j.sqlite"
    code, res = sweep(capsys, "--bars", "400", "--grid", "fast=5,10", "--jobs", "2",
                      "--shadow-ocaml", "--journal", str(journal))
    assert code == 0 and res["tasks"] == 2
    with sqlite3.connect(journal) as db:
        summaries = [json.loads(s) for (s,) in db.execute(
            "SELECT summary FROM runs WHERE id IN (SELECT run_id FROM sweep_runs)")]
    for s in summaries:  # each run's values were compared by its own OCaml server
        # fast and slow SMA from bar 1 on: about 2 values a bar, every bar
        assert s["shadow"]["compared"] >= 400 and s["shadow"]["mismatches"] == 0
        assert s["shadow"]["errors"] == 0


def test_report_renders_a_journaled_sweep_again(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    journal = tmp_path / "j.sqlite"
    code, res = sweep(capsys, "--bars", "600", "--grid", "fast=5,10", "--grid", "slow=20,30",
                      "--journal", str(journal), "--jobs", "1")
    assert code == 0
    # the latest sweep, as JSON: the very object the sweep printed
    assert main(["report", "--sweep", "--journal", str(journal), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == res
    page = tmp_path / "s.html"
    assert main(["report", "--sweep", "1", "--journal", str(journal), "--html", str(page)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Sweep 1 · finished") and str(page) in out
    text = page.read_text(encoding="utf-8")
    assert 'class="heatmap"' in text and all(str(r["run_id"]) in text for r in res["runs"])


@pytest.mark.parametrize(("args", "fragment"), [
    (["--sweep", "7"], "--sweep 7: no such sweep"),
    (["--sweep", "1", "3"], "report a run or a sweep, not both"),
])
def test_report_of_a_bad_sweep_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], fragment: str
) -> None:
    journal = tmp_path / "j.sqlite"
    sweep(capsys, "--bars", "300", "--grid", "fast=5", "--grid", "slow=20",
          "--journal", str(journal), "--jobs", "1")
    assert main(["report", *args, "--journal", str(journal)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0]


def test_report_of_a_journal_without_sweeps_says_so(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    journal = tmp_path / "j.sqlite"
    backtest(RunConfig(strategy=SMA, bars=50, journal=journal))
    assert main(["report", "--sweep", "--journal", str(journal)]) == 2
    assert "no sweep was ever journaled here" in capsys.readouterr().err
