"""``python -m engine verify``: every indicator, every implementation, one data set.

The command's side of ``bridge.crosscheck``: its arguments (data source, indicator
subset), the jobs with the registry's default parameters, and the report as a
table or as JSON. Exit status 0 = the agreement contract holds, 1 = it fails.
"""

from __future__ import annotations

import difflib
import json
import math
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from bridge.crosscheck import (
    STREAM_FIELDS,
    Data,
    FloatArray,
    Implementation,
    Job,
    OcamlBatch,
    OcamlStream,
    PairResult,
    PythonBatch,
    PythonStream,
    Talib,
    crosscheck,
    talib_available,
)
from bridge.verify_trades import execution_rows
from engine.errors import ConfigError, FeedError
from engine.indicators.registry import SPECS

if TYPE_CHECKING:
    from engine.run.config import VerifyConfig

EXIT_OK = 0
EXIT_CONTRACT = 1


def bars_to_arrays(bars: Iterable[Any]) -> dict[str, FloatArray]:
    """Columns "open", "high", "low", "close", "volume" of validated ``Bar``s."""
    cols: dict[str, list[float]] = {f: [] for f in ("open", *STREAM_FIELDS)}
    appends = [(f, cols[f].append) for f in cols]
    for bar in bars:
        for f, append in appends:
            append(getattr(bar, f))
    return {f: np.asarray(v, dtype=np.float64) for f, v in cols.items()}


def load_data(args: VerifyConfig) -> tuple[dict[str, FloatArray], str]:
    """The verify data set: ``--data`` CSV (header or Binance kline, through CsvFeed,
    so bad rows are rejected as in a run) or ``--bars`` simulated bars (SimulatedFeed)."""
    from engine.market.feeds.csv_feed import CsvFeed
    from engine.market.feeds.simulated import SimulatedFeed

    if args.data:
        feed: Any = CsvFeed(args.data)  # --bars only sizes the simulated series
        data = bars_to_arrays(feed.iter_bars())
        rejected = feed.stats.rejected_bars
        source = f"{args.data}" + (f" ({rejected} rejected rows skipped)" if rejected else "")
    else:
        feed = SimulatedFeed(["BTCUSDT"], seed=args.seed, bars=args.bars)
        data, source = bars_to_arrays(feed.iter_bars()), f"simulated BTCUSDT, seed {args.seed}"
    if data["close"].size == 0:
        raise FeedError(f"{args.data}: no valid bars to verify")
    return data, source


def select_indicators(spec: str | None) -> list[str]:
    """The registry's names, or the comma-separated subset ``spec`` (validated)."""
    if spec is None:
        return list(SPECS)
    names = [s.strip().lower() for s in spec.split(",") if s.strip()]
    for n in names:
        if n not in SPECS:
            close = difflib.get_close_matches(n, list(SPECS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"--indicators: unknown indicator {n!r}{hint} (known: {', '.join(SPECS)})"
            )
    if not names:
        raise ConfigError("--indicators: empty list")
    return names


def default_jobs(names: Sequence[str], data: Data) -> list[Job]:
    """One job per indicator with the registry's default parameters."""
    return [Job(n, tuple(p.default for p in SPECS[n].params), data) for n in names]


def _summary_rows(results: list[list[PairResult]]) -> list[dict[str, Any]]:
    rows = []
    for pairs in results:
        for pr in pairs:
            rep = pr.report
            rows.append(
                {
                    "indicator": pr.job.name,
                    "params": list(pr.job.params),
                    "pair": f"{pr.a} vs {pr.b}",
                    "compared": rep.compared if rep else 0,
                    "max_scaled_error": _finite_or_none(rep.max_scaled_error if rep else None),
                    "max_ulp": rep.max_ulp if rep else None,
                    "bit_identical": rep.bit_identical_share if rep else 0.0,
                    "ok": pr.ok,
                    "problem": pr.problem,
                }
            )
    return rows


_SHORT = {
    "python-batch": "py-batch",
    "python-stream": "py-stream",
    "ocaml-batch": "oc-batch",
    "ocaml-stream": "oc-stream",
}


def _short_pair(pair: str) -> str:
    a, b = pair.split(" vs ")
    return f"{_SHORT.get(a, a)} / {_SHORT.get(b, b)}"


def _print_table(rows: list[dict[str, Any]], title: str, caption: str) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, caption=caption, box=box.SIMPLE_HEAD)
    table.add_column("indicator", no_wrap=True)
    table.add_column("pair", no_wrap=True)
    for col in ("compared", "max scaled err", "max ULP", "bit-identical"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("contract")
    previous = None
    for r in rows:
        label = f"{r['indicator']}({','.join(str(p) for p in r['params'])})"
        if previous is not None and label != previous:
            table.add_section()
        table.add_row(
            label if label != previous else "",
            _short_pair(r["pair"]),
            str(r["compared"]),
            "-" if r["max_scaled_error"] is None else f"{r['max_scaled_error']:.3g}",
            "-" if r["max_ulp"] is None else str(r["max_ulp"]),
            f"{100.0 * r['bit_identical']:.2f}%" if r["compared"] else "-",
            _verdict(r),
        )
        previous = label
    console = Console()
    if not console.is_terminal:
        console = Console(width=140)
    console.print(table)


def _verdict(row: dict[str, Any]) -> str:
    if not row["ok"]:
        return f"[bold red]FAIL[/] {row['problem']}"
    # Nothing compared proves nothing: say so rather than "ok".
    return "ok" if row["compared"] else "n/a: series shorter than the lookback"


#: The verify command pushes at most this many bars to each OCaml stream, one round
#: trip per bar (~0.1 ms); the earlier bars seed the stream inside the server.
VERIFY_MAX_PUSH = 10_000


def _implementations(ocaml: Any) -> list[Implementation]:
    impls: list[Implementation] = [PythonBatch(), PythonStream()]
    if ocaml is not None:
        impls += [OcamlBatch(ocaml), OcamlStream(ocaml, max_push=VERIFY_MAX_PUSH)]
    if talib_available():
        impls.append(Talib())
    return impls


def verify_main(args: VerifyConfig) -> int:
    """``python -m engine verify``: 0 = contract holds, 1 = it fails (2 via TandemError)."""
    from bridge import OcamlIndicators

    names = select_indicators(args.indicators)
    data, source = load_data(args)
    jobs = default_jobs(names, data)
    with OcamlIndicators() as ocaml:
        results = crosscheck(jobs, _implementations(ocaml))
    rows = _summary_rows(results)
    execution = execution_rows(args)
    ok = all(r["ok"] for r in rows) and all(r["ok"] for r in execution)
    if args.json:
        doc = {"source": source, "bars": jobs[0].length, "ok": ok, "rows": rows,
               "execution": execution}
        print(json.dumps(doc))
    else:
        caption = (
            "scaled error = |a-b| / contract bound (<= 1 passes); py = Python, oc = OCaml; "
            f"OCaml streams are pushed the last {min(VERIFY_MAX_PUSH, jobs[0].length)} bars "
            "after seeding"
        )
        _print_table(rows, f"Tandem verify: {jobs[0].length} bars, {source}", caption)
        empty = sum(1 for r in rows if not r["compared"])
        if empty:
            print(
                f"note: {empty} of {len(rows)} comparisons had no values to compare "
                f"(the {jobs[0].length}-bar series is shorter than their lookback)",
                file=sys.stderr,
            )
        _print_execution(execution)
        print("agreement contract: " + ("holds" if ok else "FAILS"), file=sys.stdout)
    return EXIT_OK if ok else EXIT_CONTRACT


def _print_execution(rows: list[dict[str, Any]]) -> None:
    """The execution cross-check: one line per example strategy."""
    print("execution cross-check (Python StateMachine vs OCaml book, every bar):")
    for r in rows:
        verdict = "ok" if r["ok"] else "FAIL"
        print(f"  {r['strategy']:<22} bars {r['bars']:>7}  trades compared {r['trades']:>5}"
              f"  fills bit-identical {r['identical_fills']}/{r['fills']}"
              f"  max difference {r['max_difference']:.3g}  {verdict}")


def _finite_or_none(value: float | None) -> float | None:
    """JSON has no infinity: an unbounded error is reported as null."""
    return value if value is not None and math.isfinite(value) else None
