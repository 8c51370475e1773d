"""Shadow mode checks trades: every bar's trading replayed into the OCaml book
(bridge/shadow/trades.py), compared fill by fill and with the equity."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from test_shadow import ROOT, candidate, mismatches, run, trades

pytestmark = pytest.mark.usefixtures("ocaml_server")

EXAMPLES = sorted((ROOT / "strategies").glob("*.lua"))
BARS = 20_000


@pytest.mark.parametrize("strategy", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_strategy_agrees_on_every_trade(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, strategy: Path
) -> None:
    journal = tmp_path / "j.sqlite"
    code, summary, _ = run(capsys, journal, strategy, "--bars", str(BARS), "--shadow-ocaml",
                           "--shadow-strict")
    shadow = summary["shadow"]
    assert code == 0, shadow
    assert shadow["trade_bars"] == BARS and shadow["trade_unchecked_bars"] == 0
    closed = trades(journal, summary["run_id"])
    # every trade is an entry fill and an exit fill; one position may still be open
    assert len(closed) > 0 and shadow["fills_compared"] in (2 * len(closed), 2 * len(closed) + 1)
    assert shadow["trade_mismatches"] == 0 and shadow["errors"] == 0


def test_a_lie_about_one_fill_price_is_caught(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    candidate(monkeypatch, tmp_path, "lie_fill", 0)
    journal = tmp_path / "j.sqlite"
    strategy = ROOT / "strategies" / "sma_crossover.lua"
    code, summary, err = run(capsys, journal, strategy, "--bars", "3000", "--shadow-ocaml",
                             "--shadow-strict")
    assert code != 0 and "--shadow-strict" in err
    shadow = summary["shadow"]
    assert shadow["trade_mismatches"] >= 1 and shadow["errors"] == 0
    lie = (tmp_path / "lies.txt").read_text().split()
    rows = [r for r in mismatches(journal, summary["run_id"]) if r["indicator"] == "execution"]
    assert rows, "the lie was not journaled"
    # the lie is the first fill's price: an entry (entries[0].price) or an exit's price
    first = rows[0]
    assert first["output"] in ("entries[0].price", "trades[0].exit_price")
    assert first["python_value"].hex() != first["ocaml_value"].hex()
    assert int(lie[1], 16) == int.from_bytes(
        struct.pack("<d", first["ocaml_value"]), "little")
