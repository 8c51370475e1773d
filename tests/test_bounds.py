"""Issue 17: what a strategy can push onto the host is bounded (engine/bounds.py).

One test per attack of bench/attacks.py (which measures them before and after)
plus the docs table checked against the constants.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
from test_strategy_support import Harness, load, write

from engine import bounds
from engine.cli import main
from engine.errors import StrategyError
from engine.indicators.api import IndicatorApi
from engine.observer import IndicatorValue
from engine.state import Context
from engine.strategy import LuaStrategyError

DOCS = Path(__file__).resolve().parent.parent / "docs" / "strategies.md"

# -- log ---------------------------------------------------------------------------

#: 100 lines per call: the per-call allowance, so only the rate limits it.
HUNDRED_LINES = 'function detect_opportunity() for i = 1, 100 do print("line", i) end end'


def test_the_log_rate_is_a_bucket_refilled_before_each_call(tmp_path: Path) -> None:
    lines: list[str] = []
    strategy = load(tmp_path, HUNDRED_LINES, log=lines.append)
    h = Harness(strategy)
    for _ in range(12):
        h.next()
    # Bucket 1,000, +2 before each call (capped at 1,000), 100 lines a call:
    # call 1 starts at 1000 -> 900; call n >= 2 starts at 1000 - 98 (n - 1): call 10
    # at 118 -> 18; call 11 at 20: 20 lines written, 80 refused (one marker);
    # call 12 at 2: 2 written, 98 refused (no new marker: the same dry spell).
    markers = [ln for ln in lines if ln.startswith("[strat.lua: log rate limit")]
    assert len(markers) == 1
    assert len(lines) == 10 * 100 + 20 + 2 + 1
    assert strategy.log_suppressed == 80 + 98


def test_a_full_bucket_ends_the_dry_spell_and_a_new_one_is_marked(tmp_path: Path) -> None:
    lines: list[str] = []
    strategy = load(tmp_path, """
      n = 0
      function detect_opportunity()
        n = n + 1
        if n <= 11 or n > 11 + 500 then for i = 1, 100 do print(i) end end
      end""", log=lines.append)
    h = Harness(strategy)
    for _ in range(11 + 500 + 11):  # flood, 500 quiet calls (refill 1,000), flood again
        h.next()
    assert sum(ln.startswith("[strat.lua: log rate limit") for ln in lines) == 2
    assert strategy.log_suppressed == 2 * 80  # each flood: call 11 refuses 80 (see above)


def test_log_with_many_arguments_is_one_cut_line(tmp_path: Path) -> None:
    lines: list[str] = []
    strategy = load(tmp_path, """
      local t = {} for i = 1, 20000 do t[i] = i end
      function detect_opportunity() print(table.unpack(t)) end""", log=lines.append,
                    instruction_budget=10**7)
    Harness(strategy).next()
    (line,) = lines
    # "1\t2\t...\t20000": 9 one-digit, 90 two-, 900 three-, 9000 four-digit numbers and
    # 10001 five-digit ones are 9 + 180 + 2700 + 36000 + 50005 = 88894 bytes, plus
    # 19999 tabs = 108893 bytes; 1024 are kept, so 107869 are cut
    assert line.startswith("1\t2\t3\t") and line.endswith("… [107869 bytes cut]")
    assert len(line.encode()) == 1024 + len("… [107869 bytes cut]".encode())


def test_refused_log_lines_still_cost_instructions(tmp_path: Path) -> None:
    strategy = load(tmp_path, 'function detect_opportunity() for i = 1, 1e12 do print("x") end end')
    with pytest.raises(LuaStrategyError, match="instruction budget"):
        Harness(strategy).next()
    # all but 100 of them were counted, none crossed to the host
    assert strategy.log_suppressed > 10_000


def test_the_summary_and_the_journal_count_suppressed_log_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = write(tmp_path, HUNDRED_LINES)
    journal = tmp_path / "j.sqlite"
    code = main(["run", "--strategy", str(script), "--bars", "12", "--journal", str(journal),
                 "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # the bucket arithmetic of the first test: 80 + 98 lines held back over 12 calls
    assert summary["log_lines_suppressed"] == 178
    assert summary["symbols"]["BTCUSDT"]["log_lines_suppressed"] == 178
    with sqlite3.connect(journal) as db:
        (stored,) = db.execute("SELECT summary FROM runs").fetchone()
    assert json.loads(stored)["log_lines_suppressed"] == 178


def test_the_report_says_how_many_log_lines_were_suppressed() -> None:
    from engine.run.report import _counters_line

    summary: dict[str, Any] = {"rejected_bars": 0, "duplicate_bars": 0, "strategy_errors": 0,
                               "shadow": {}, "journal": "j", "run_id": 1, "elapsed_s": 0.1,
                               "log_lines_suppressed": 12345}
    assert "… 12,345 more log lines suppressed" in _counters_line(summary)


# -- host crossings are charged ----------------------------------------------------


def test_failing_stream_requests_under_pcall_are_charged(tmp_path: Path) -> None:
    strategy = load(tmp_path, """
      function detect_opportunity(md, ctx, ind)
        for i = 1, 1e12 do pcall(ind.sma, -i) end
      end""", instruction_budget=10**7)
    h = Harness(strategy)

    class CountingApi(IndicatorApi):  # (compiled, the instance's methods cannot be replaced)
        calls = 0

        def open(self, name: str, args: Sequence[object]) -> tuple[int, IndicatorValue]:
            CountingApi.calls += 1
            return super().open(name, args)

    h.api = CountingApi("BTCUSDT", h.window)
    with pytest.raises(LuaStrategyError, match="instruction budget"):
        h.next()
    # 10^7 instructions at HOST_OPEN_INSTRUCTIONS = 10^4 each: at most 1,000 requests
    # reach Python (before: ~10^6, 2.6 s per call)
    assert 0 < CountingApi.calls <= 10**7 // bounds.HOST_OPEN_INSTRUCTIONS


# -- returned tables and the context -----------------------------------------------


@pytest.mark.parametrize(("body", "message"), [
    ('return { s = string.rep("x", 4097) }',
     "field 's' is a string of 4097 bytes; strings may have at most 4096 bytes"),
    ('return { [string.rep("k", 10000000)] = 1 }',
     "a key of 10000000 bytes"),
    # 17 fields of 4,000-byte strings: 17 * (2 + 4000) = 68034 > 65536 bytes
    ('local t = {} for i = 10, 26 do t["k" .. i] = string.rep("x", 4000) end return t',
     "a table of more than 65536 bytes"),
])
def test_big_strings_and_tables_are_refused_before_they_cross(
    tmp_path: Path, body: str, message: str
) -> None:
    strategy = load(tmp_path, f"function detect_opportunity() {body} end", memory_mb=64.0)
    h = Harness(strategy)
    with pytest.raises(LuaStrategyError, match=re.escape(message)) as info:
        h.next()
    assert len(str(info.value)) < 500
    assert len(h.machine.context) == 0


def test_a_type_error_quotes_at_most_60_bytes_of_a_key(tmp_path: Path) -> None:
    strategy = load(tmp_path,
                    'function detect_opportunity() return { [string.rep("k", 4000)] = {} } end')
    with pytest.raises(LuaStrategyError, match="is a table") as info:
        Harness(strategy).next()
    assert "k" * 60 + "…'" in str(info.value) and "k" * 61 not in str(info.value)


def test_the_context_cannot_grow_past_its_entry_limit(tmp_path: Path) -> None:
    # cancel_analysis keeps the context: 200 new keys per detect call accumulate
    strategy = load(tmp_path, """
      n = 0
      function detect_opportunity()
        local t = {}
        for i = 1, 200 do n = n + 1; t["k" .. n] = n end
        return t
      end
      function filter_commitment() return { action = "cancel_analysis" } end""")
    h = Harness(strategy)
    h.next()
    h.next()
    with pytest.raises(LuaStrategyError, match="400 entries would exceed the limit of 256"):
        h.next()
    assert len(h.machine.context) == 200


def test_context_size_is_counted_by_utf8_bytes() -> None:
    ctx = Context({"ab": "xyz", "n": 1, "é": True})
    # "ab" + "xyz" = 5, "n" + 8 = 9, "é" (2 bytes) + 8 = 10
    assert ctx.size == 5 + 9 + 10
    del ctx["n"]
    assert ctx.size == 15
    with pytest.raises(StrategyError, match="at most 4,096 bytes"):
        ctx["big"] = "é" * 2049  # 4098 bytes in 2049 characters
    with pytest.raises(StrategyError, match="65,536"):
        ctx.update({f"k{i:02d}": "x" * 4000 for i in range(17)})
    assert ctx.size == 15


def test_a_reason_longer_than_256_bytes_is_refused(tmp_path: Path) -> None:
    strategy = load(tmp_path, """
      n = 0
      function detect_opportunity() return { a = 1 } end
      function filter_commitment()
        n = n + 1
        return { action = "cancel_analysis", reason = string.rep("r", n == 1 and 257 or 256) }
      end""")
    h = Harness(strategy)
    h.next()
    with pytest.raises(LuaStrategyError, match=r"has 257 bytes; a reason .* at most 256"):
        h.next()
    h.next()  # 256 bytes: accepted and journaled with the transition
    assert h.machine.history[-1].note == "r" * 256


def test_a_huge_action_name_makes_a_short_error(tmp_path: Path) -> None:
    strategy = load(tmp_path, """
      function detect_opportunity() return { a = 1 } end
      function filter_commitment() return { action = string.rep("enter_lon", 450) } end""")
    h = Harness(strategy)
    h.next()
    with pytest.raises(LuaStrategyError, match="is not an action") as info:
        h.next()
    assert len(str(info.value)) < 500  # the 4,050-byte name is quoted by 80 characters


# -- errors in the runner ----------------------------------------------------------


class _Failing:
    """A strategy whose every call raises a 1 MB StrategyError."""

    path = "failing.lua"
    sha256 = "0" * 64
    params: ClassVar[dict[str, object]] = {}

    def step(self, bar: object, machine: object, api: object) -> None:
        raise StrategyError("E" * 1_000_000)


def test_strategy_errors_are_cut_and_only_the_first_are_logged_and_journaled(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from test_strategy_support import walk

    from engine.indicators.api import IndicatorApi
    from engine.market.window import MarketDataWindow
    from engine.run.journal import Journal
    from engine.run.runner import SymbolRunner
    from engine.state import StateMachine

    window = MarketDataWindow(100)
    with Journal(tmp_path / "j.sqlite") as journal:
        journal.start_run(command=[], strategy_path="f", strategy_sha256="0", params={},
                          symbols=["BTCUSDT"], feed="sim", seed=1, fee_bps=0, slippage_bps=0)
        runner = SymbolRunner("BTCUSDT", _Failing(), StateMachine(), window,
                              IndicatorApi("BTCUSDT", window), journal, max_errors=10**9)
        with caplog.at_level("ERROR", logger="tandem.run"):
            for bar in walk(1100):
                runner.on_bar(bar)
    assert runner.stats.strategy_errors == 1100
    assert runner.stats.strategy_errors_unjournaled == 100  # 1100 - ERRORS_JOURNALED
    assert len(caplog.records) == 101  # ERRORS_LOGGED and the line saying the rest is not
    with sqlite3.connect(tmp_path / "j.sqlite") as db:
        rows = db.execute("SELECT length(message) FROM strategy_errors").fetchall()
    marker = len(f"… [{1_000_000 - 5000:,} more characters]")
    assert rows == [(5000 + marker,)] * 1000


# -- the documented table ----------------------------------------------------------


def _doc_rows() -> dict[str, str]:
    """constant name -> the limit cell of docs/strategies.md's bounds table."""
    rows: dict[str, str] = {}
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"`[A-Z_]+`", cells[3]):
            rows.setdefault(cells[3].strip("`"), cells[1])
    return rows


def test_the_docs_table_states_every_bound_with_its_value() -> None:
    rows = _doc_rows()
    constants = {name for name in dir(bounds) if name.isupper()}
    assert set(rows) == constants - {"SCALAR_BYTES"}  # SCALAR_BYTES: in the text of a row
    for name, cell in rows.items():
        value = getattr(bounds, name)
        assert re.match(rf"{value:,}\b", cell), (name, cell, value)
