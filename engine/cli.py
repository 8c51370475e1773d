"""The command line: ``python -m engine {run,check,verify}`` (docs/design.md §8).

This is the composition root: it parses arguments, imports the handler of the
chosen command lazily (so ``--help`` and start-up stay fast) and is the only
place that wires ``bridge`` into the engine (``--shadow-ocaml``, ``verify``).
Errors derived from ``TandemError`` are printed without a traceback unless
``--debug`` is given; the exit code is then 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from engine.errors import ConfigError, TandemError

EXIT_ERROR = 2


def _add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run",
        help="run a Lua strategy over simulated, CSV or live Binance data",
        description="Run a Lua strategy over a feed and print a summary. "
        "Trades, transitions, strategy errors and rejected bars go to the SQLite journal.",
    )
    p.add_argument("--strategy", required=True, metavar="FILE", help="the Lua strategy file")
    p.add_argument(
        "--strategy-for",
        action="append",
        default=[],
        metavar="SYMBOL=FILE",
        help="run SYMBOL with another strategy file than --strategy (repeatable)",
    )
    p.add_argument(
        "--feed",
        default="sim",
        metavar="FEED",
        help="sim (seeded random walk, the default; 10,000 bars per symbol unless --bars), "
        "csv:PATH (header or Binance kline CSV), or binance (live klines over WebSocket)",
    )
    p.add_argument("--symbols", default="BTCUSDT", help="comma-separated symbols (default BTCUSDT)")
    p.add_argument("--interval", default="1m", help="bar interval, e.g. 1m, 5m, 1h (default 1m)")
    p.add_argument(
        "--bars", type=int, default=None, metavar="N", help="stop after N bars per symbol"
    )
    p.add_argument("--seed", type=int, default=42, help="seed of the simulated feed (default 42)")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="K=V",
        help="override a strategy parameter declared in its params table (repeatable)",
    )
    p.add_argument("--fee-bps", type=float, default=10.0, help="fee per fill in basis points (10)")
    p.add_argument("--slippage-bps", type=float, default=0.0, help="slippage in basis points (0)")
    p.add_argument(
        "--shadow-ocaml",
        action="store_true",
        help="check every indicator value the strategy reads against the OCaml implementation",
    )
    p.add_argument(
        "--shadow-strict",
        action="store_true",
        help="with --shadow-ocaml: exit non-zero on any mismatch or shadow error",
    )
    p.add_argument(
        "--shadow-sample",
        type=float,
        default=1.0,
        metavar="RATE",
        help="with --shadow-ocaml: fraction of bars to compare, in (0, 1] (default 1)",
    )
    p.add_argument(
        "--shadow-timeout",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="with --shadow-ocaml: how long the OCaml server may take to answer (default 5)",
    )
    p.add_argument(
        "--watch", action="store_true", help="hot-reload the strategy file when it changes"
    )
    p.add_argument(
        "--journal", default="runs.sqlite", metavar="PATH", help="SQLite journal (runs.sqlite)"
    )
    p.add_argument(
        "--json", action="store_true", help="print a JSON summary as the last stdout line"
    )
    p.add_argument("--lua-budget", type=int, default=10_000_000, help="Lua instructions per call")
    p.add_argument(
        "--lua-memory-mb", type=float, default=64.0, help="Lua memory cap per strategy, MiB"
    )
    p.add_argument(
        "--max-errors",
        type=int,
        default=10,
        help="consecutive strategy errors before a symbol's strategy stops (default 10)",
    )
    p.add_argument("--window", type=int, default=1000, help="bars kept per symbol (default 1000)")
    p.add_argument(
        "--binance-ws-url",
        default="wss://stream.binance.com:9443",
        help="Binance WebSocket base URL",
    )
    p.add_argument(
        "--binance-rest-url", default="https://api.binance.com", help="Binance REST base URL"
    )


def _add_check(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "check",
        help="validate a strategy and run it over simulated bars",
        description="Load a strategy, run it over simulated bars and report errors "
        "(with file:line), the actions it took and its cost per call.",
    )
    p.add_argument("file", metavar="FILE", help="the Lua strategy file")
    p.add_argument("--bars", type=int, default=2000, help="simulated bars to run (default 2000)")
    p.add_argument("--seed", type=int, default=42, help="seed of the simulated feed (default 42)")
    p.add_argument("--param", action="append", default=[], metavar="K=V", help="parameter override")
    p.add_argument("--lua-budget", type=int, default=10_000_000, help="Lua instructions per call")
    p.add_argument("--lua-memory-mb", type=float, default=64.0, help="Lua memory cap, MiB")


def _add_verify(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "verify",
        help="cross-check every indicator: Python vs OCaml vs TA-Lib",
        description="Run every indicator over a data set through the Python, OCaml and "
        "(when installed) TA-Lib implementations and print, per indicator and pair, the "
        "largest scaled error, the largest ULP distance and the share of bit-identical "
        "values. Exits 1 when the agreement contract fails.",
    )
    p.add_argument("--data", metavar="CSV", default=None, help="OHLCV CSV (default: simulated)")
    p.add_argument("--bars", type=int, default=100_000, help="simulated bars when no --data")
    p.add_argument("--seed", type=int, default=42, help="seed of the simulated series")
    p.add_argument("--indicators", default=None, metavar="A,B", help="only these indicators")
    p.add_argument("--json", action="store_true", help="print the table as JSON")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m engine``."""
    parser = argparse.ArgumentParser(
        prog="python -m engine",
        description="Tandem: run Lua trading strategies on indicators verified against "
        "an independent OCaml implementation.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run(sub)
    _add_check(sub)
    _add_verify(sub)
    return parser


# Upper bounds keep absurd values from turning into overflows or memory errors deep
# inside the run; the bounds of run-only options are checked in engine.run.config.
_MAX_BARS = {"run": 2**63 - 1, "check": 10_000_000, "verify": 10_000_000}
_LUA_BUDGET = (1_000, 10**12)
_LUA_MEMORY_MB = (1.0, 65_536.0)


def _check_ranges(args: argparse.Namespace) -> None:
    """Reject out-of-range numbers shared by several commands, naming flag and value."""
    if not 0 <= args.seed < 2**63:
        raise ConfigError(f"--seed {args.seed}: must be in [0, 2**63)")
    bars_max = _MAX_BARS[args.command]
    if args.bars is not None and not 1 <= args.bars <= bars_max:
        raise ConfigError(f"--bars {args.bars}: must be in [1, {bars_max:,}]")
    if args.command == "verify":
        return
    lo, hi = _LUA_BUDGET
    if not lo <= args.lua_budget <= hi:
        raise ConfigError(f"--lua-budget {args.lua_budget}: must be in [{lo:,}, {hi:,}]")
    mlo, mhi = _LUA_MEMORY_MB
    if not mlo <= args.lua_memory_mb <= mhi:  # NaN fails both comparisons
        raise ConfigError(f"--lua-memory-mb {args.lua_memory_mb}: must be in [{mlo:g}, {mhi:g}]")
    if args.command == "run":
        _check_run_ranges(args)


def _check_run_ranges(args: argparse.Namespace) -> None:
    if not args.shadow_ocaml:
        # A CI job asking for --shadow-strict without --shadow-ocaml would pass
        # while checking nothing: refuse instead of ignoring the flag.
        given = [
            flag
            for flag, used in (
                ("--shadow-strict", args.shadow_strict),
                ("--shadow-sample", args.shadow_sample != 1.0),
                ("--shadow-timeout", args.shadow_timeout != 5.0),
            )
            if used
        ]
        if given:
            raise ConfigError(f"{', '.join(given)} only applies with --shadow-ocaml; add it")


def _dispatch(args: argparse.Namespace) -> int:
    _check_ranges(args)
    if args.command == "run":
        from engine.run.command import run_main

        observer_factory = None
        if args.shadow_ocaml:
            from bridge.shadow import make_shadow_observer

            observer_factory = make_shadow_observer
        return run_main(args, observer_factory)
    if args.command == "check":
        from engine.strategy.check import check_main

        return check_main(args)
    from bridge.crosscheck import verify_main

    return verify_main(args)


def _single_threaded_blas() -> None:
    """Tandem does no BLAS work (no linalg, no matrix products), but numpy's OpenBLAS
    starts a thread per core when numpy is imported: ≈ 45 ms of CPU on 2 cores
    (more with more cores). One thread, unless the user set it; must run before
    numpy is imported."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m engine`` and the ``tandem`` script."""
    _single_threaded_blas()
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except TandemError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
