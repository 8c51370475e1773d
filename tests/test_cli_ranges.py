"""Out-of-range numbers on the command line: one clear line naming the flag, exit 2.

Each of these used to end deep in the run with a traceback (an int64 overflow in the
journal, a numpy memory error, a Lua budget overflow) or, for the shadow flags, to be
silently ignored.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main

SMA = str(Path(__file__).resolve().parent.parent / "strategies" / "sma_crossover.lua")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--seed", str(2**63)], "--seed 9223372036854775808: must be in [0, 2**63)"),
        (["--seed", "-1"], "--seed -1"),
        (["--window", "10000000000"], "--window 10000000000: must be in [2, 1,000,000] bars"),
        (["--lua-budget", "99999999999999999999999"], "--lua-budget 99999999999999999999999"),
        (["--lua-budget", "999"], "--lua-budget 999: must be in [1,000,"),
        (["--lua-memory-mb", "0"], "--lua-memory-mb 0.0"),
        (["--lua-memory-mb", "nan"], "--lua-memory-mb nan"),
        (["--shadow-strict"], "--shadow-strict only applies with --shadow-ocaml"),
        (["--shadow-sample", "0.5"], "--shadow-sample only applies with --shadow-ocaml"),
        (["--shadow-timeout", "1"], "--shadow-timeout only applies with --shadow-ocaml"),
        (["--shadow-sample", "1", "--shadow-strict"],
         "--shadow-strict, --shadow-sample only applies with --shadow-ocaml"),
        (["--shadow-ocaml", "--shadow-timeout", "inf"],
         "--shadow-timeout must be a finite number of seconds > 0, got inf"),
    ],
)
def test_run_rejects_out_of_range_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    journal = tmp_path / "j.sqlite"
    code = main(["run", "--strategy", SMA, "--journal", str(journal), *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and expected in err
    assert "Traceback" not in err
    assert not journal.exists()  # refused before anything ran


@pytest.mark.parametrize("command", [["check", SMA], ["verify"]])
def test_check_and_verify_cap_their_bar_counts(
    capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    code = main([*command, "--bars", "100000000000"])
    err = capsys.readouterr().err
    assert code == 2
    assert "--bars 100000000000: must be in [1, 10,000,000]" in err
