"""The command line: ``python -m engine {run,sweep,report,check,verify}`` (docs/design.md §8).

This is the composition root: it parses arguments into the command's typed
config (engine/run/config.py, the one home of every default and range: options
not given are left out of the parsed namespace, so the config's defaults apply),
imports the handler of the chosen command lazily and is the only place that
wires ``bridge`` into the engine (``--shadow-ocaml``, ``verify``).
Errors derived from ``TandemError`` are printed without a traceback unless
``--debug`` is given; the exit code is then 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import MISSING, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import engine
from engine.errors import ConfigError, TandemError

if TYPE_CHECKING:
    from engine.run.config import CheckConfig, ReportConfig, RunConfig, RunOutput, VerifyConfig
    from engine.sweep.plan import SweepConfig

EXIT_ERROR = 2


def _defaults(cls: type[Any]) -> dict[str, Any]:
    """The field defaults of a config dataclass: the one home of every option's default."""
    out: dict[str, Any] = {}
    for f in fields(cls):
        if f.default is not MISSING:
            out[f.name] = f.default
        elif f.default_factory is not MISSING:
            out[f.name] = f.default_factory()
    return out


def _add_strategy_options(p: argparse.ArgumentParser, d: dict[str, Any]) -> None:
    """The options of engine.run.config.StrategyOptions (shared by run and check)."""
    p.add_argument("--seed", type=int, help=f"seed of the simulated feed (default {d['seed']})")
    p.add_argument(
        "--param",
        dest="params",
        action="append",
        metavar="K=V",
        help="override a strategy parameter declared in its params table (repeatable)",
    )
    p.add_argument(
        "--lua-budget",
        type=int,
        metavar="N",
        help=f"Lua instructions per call (default {d['lua_budget']:,})",
    )
    p.add_argument(
        "--lua-memory-mb",
        type=float,
        metavar="MIB",
        help=f"Lua memory cap per strategy runtime, MiB (default {d['lua_memory_mb']:g})",
    )


def _add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    from engine.market.feeds import DEFAULT_SIM_BARS
    from engine.run.config import RunConfig, ShadowOptions

    d, shadow = _defaults(RunConfig), _defaults(ShadowOptions)
    p = sub.add_parser(
        "run",
        help=COMMANDS["run"],
        description="Run a Lua strategy over a feed and print a summary. "
        "Trades, transitions, strategy errors and rejected bars go to the SQLite journal.",
        argument_default=argparse.SUPPRESS,  # a flag not given is absent: RunConfig's default
    )
    p.add_argument("--strategy", required=True, type=Path, metavar="FILE",
                   help="the Lua strategy file")
    p.add_argument(
        "--strategy-for",
        action="append",
        metavar="SYMBOL=FILE",
        help="run SYMBOL with another strategy file than --strategy (repeatable)",
    )
    p.add_argument(
        "--feed",
        metavar="FEED",
        help=f"sim (seeded random walk, the default; {DEFAULT_SIM_BARS:,} bars per symbol unless "
        "--bars), csv:PATH (header or Binance kline CSV), or binance (live klines over WebSocket)",
    )
    p.add_argument("--symbols", help=f"comma-separated symbols (default {','.join(d['symbols'])})")
    p.add_argument("--interval", help=f"bar interval, e.g. 1m, 5m, 1h (default {d['interval']})")
    p.add_argument("--bars", type=int, metavar="N", help="stop after N bars per symbol")
    _add_strategy_options(p, d)
    p.add_argument(
        "--fee-bps", type=float, help=f"fee per fill in basis points (default {d['fee_bps']:g})"
    )
    p.add_argument(
        "--slippage-bps",
        type=float,
        help=f"slippage in basis points (default {d['slippage_bps']:g})",
    )
    _add_execution(p, d)
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
        metavar="RATE",
        help=f"with --shadow-ocaml: fraction of bars to compare, in (0, 1] "
        f"(default {shadow['sample']:g})",
    )
    p.add_argument(
        "--shadow-timeout",
        type=float,
        metavar="SECONDS",
        help="with --shadow-ocaml: how long the OCaml server may take to answer "
        f"(default {shadow['timeout']:g})",
    )
    p.add_argument(
        "--shadow-in-run",
        action="store_true",
        help="with --shadow-ocaml: check on a thread of the run, not in a forked shadow "
        "process (slower: that thread shares the run's interpreter lock)",
    )
    p.add_argument(
        "--watch", action="store_true", help="hot-reload the strategy file when it changes"
    )
    p.add_argument(
        "--journal", type=Path, metavar="PATH", help=f"SQLite journal (default {d['journal']})"
    )
    p.add_argument(
        "--json", action="store_true", help="print a JSON summary as the last stdout line"
    )
    p.add_argument("--html", type=Path, metavar="FILE",
                   help="write the run's HTML report (see `report`) to FILE at its end")
    p.add_argument(
        "--max-errors",
        type=int,
        help="consecutive strategy errors before a symbol's strategy stops "
        f"(default {d['max_errors']})",
    )
    p.add_argument("--window", type=int, help=f"bars kept per symbol (default {d['window']:,})")
    p.add_argument(
        "--binance-ws-url", help=f"Binance WebSocket base URL (default {d['binance_ws_url']})"
    )
    p.add_argument(
        "--binance-rest-url", help=f"Binance REST base URL (default {d['binance_rest_url']})"
    )
    return p


def _add_sweep(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], run: argparse.ArgumentParser
) -> None:
    """``sweep``: every ``run`` option (shared by all of the sweep's runs) plus its own."""
    from engine.sweep.plan import OBJECTIVES, SweepConfig

    d = _defaults(SweepConfig)
    p = sub.add_parser(
        "sweep",
        parents=[run],
        add_help=False,  # the parent's -h is inherited
        help=COMMANDS["sweep"],
        description="Run one backtest per combination of --grid values and symbol, on all "
        "cores (or Ray), journal every run and rank them. Re-running the same command "
        "resumes an interrupted sweep. The run options apply to every run; --html "
        "writes the sweep's report (ranking, heatmap, walk-forward folds).",
        argument_default=argparse.SUPPRESS,
    )
    p.add_argument("--grid", action="append", metavar="NAME=SPEC",
                   help="a parameter's values: START:STOP[:STEP] or A,B,C (repeatable)")
    p.add_argument("--where", metavar="EXPR", help="keep combinations where EXPR holds, "
                   "e.g. 'fast < slow and slow - fast >= 10'")
    p.add_argument("--random", type=int, metavar="N",
                   help="run N combinations drawn at random (with --seed)")
    p.add_argument("--maximize", metavar="STAT", help=f"objective, higher is better: "
                   f"{', '.join(OBJECTIVES)} (default {d['maximize']})")
    p.add_argument("--jobs", type=int, metavar="N", help="local processes (default: all cores)")
    p.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                   help="run on Ray: a local Ray, or the cluster at ADDRESS (HOST:6379)")
    p.add_argument("--walk-forward", type=int, metavar="K",
                   help="K rolling folds: best in-sample params run out of sample")
    p.add_argument("--heatmap", metavar="X,Y", help="the two parameters of the HTML heatmap")


def _add_report(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from engine.run.config import ReportConfig

    d = _defaults(ReportConfig)
    p = sub.add_parser(
        "report",
        help=COMMANDS["report"],
        description="Report a run from its journal: the statistics and trade list as "
        "tables, or as JSON, and a self-contained offline HTML file (equity, drawdown, "
        "price with the trades, statistics, trades, shadow-mode result).",
        argument_default=argparse.SUPPRESS,
    )
    p.add_argument("run_id", nargs="?", type=int, default=None, metavar="RUN_ID",
                   help="the run's id in the journal (default: the latest run)")
    p.add_argument("--journal", type=Path, metavar="PATH",
                   help=f"SQLite journal (default {d['journal']})")
    p.add_argument("--sweep", nargs="?", type=int, const=0, metavar="SWEEP_ID",
                   help="report the sweep SWEEP_ID (default: the latest sweep) instead of a run")
    p.add_argument("--html", type=Path, metavar="FILE", help="write the HTML report to FILE")
    p.add_argument("--json", action="store_true",
                   help="print the statistics as one JSON object (null when undefined)")


def _add_execution(p: argparse.ArgumentParser, d: dict[str, Any]) -> None:
    """How orders fill and the account (RunConfig's fill, cash, leverage, history)."""
    from engine.market.feeds.spec import DEFAULT_HISTORY
    from engine.state import FillMode

    p.add_argument(
        "--fill",
        choices=[m.value for m in FillMode],
        help="where market orders fill: at the decision bar's close or the next bar's open "
        f"(default {d['fill']})",
    )
    p.add_argument("--cash", type=float, help=f"starting equity (default {d['cash']:,g})")
    p.add_argument(
        "--leverage",
        type=float,
        help="an entry's cost plus fee may be at most equity x leverage "
        f"(default {d['leverage']:g}: no borrowing)",
    )
    p.add_argument(
        "--history",
        type=int,
        metavar="N",
        help="live feeds: closed bars fetched before the first live bar, to warm the "
        f"indicators up (default {DEFAULT_HISTORY}, at most --window)",
    )


def _add_check(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from engine.run.config import CheckConfig

    d = _defaults(CheckConfig)
    p = sub.add_parser(
        "check",
        help=COMMANDS["check"],
        description="Load a strategy, run it over simulated bars and report errors "
        "(with file:line), the actions it took and its cost per call.",
        argument_default=argparse.SUPPRESS,
    )
    p.add_argument("strategy", type=Path, metavar="FILE", help="the Lua strategy file")
    p.add_argument(
        "--bars", type=int, help=f"simulated bars to run (default {d['bars']:,})"
    )
    _add_strategy_options(p, d)


def _add_verify(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from engine.run.config import VerifyConfig

    d = _defaults(VerifyConfig)
    p = sub.add_parser(
        "verify",
        help=COMMANDS["verify"],
        description="Run every indicator over a data set through the Python, OCaml and "
        "(when installed) TA-Lib implementations and print, per indicator and pair, the "
        "largest scaled error, the largest ULP distance and the share of bit-identical "
        "values. Exits 1 when the agreement contract fails.",
        argument_default=argparse.SUPPRESS,
    )
    p.add_argument("--data", type=Path, metavar="CSV", help="OHLCV CSV (default: simulated)")
    p.add_argument(
        "--bars", type=int, help=f"simulated bars when no --data (default {d['bars']:,})"
    )
    p.add_argument("--seed", type=int, help=f"seed of the simulated series (default {d['seed']})")
    p.add_argument("--indicators", metavar="A,B", help="only these indicators")
    p.add_argument("--json", action="store_true", help="print the table as JSON")


#: Each command and its one-line help (the help of its subparser, also shown when
#: the parser is built for another command only).
COMMANDS: Final = {
    "run": "run a Lua strategy over simulated, CSV or live Binance data",
    "sweep": "run a strategy over a grid of parameters (and symbols, and walk-forward folds)",
    "report": "statistics, trades and an HTML report of a journaled run",
    "check": "validate a strategy and run it over simulated bars",
    "verify": "cross-check every indicator: Python vs OCaml vs TA-Lib",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of ``python -m engine``. Options left out are absent from
    the parsed namespace; the configs of engine.run.config supply their defaults.

    ``only`` (a command) builds that command's options alone, the others as bare
    names: each command's options import the modules owning their defaults (the
    sweep's, the report's), which a run need not load (``main`` passes the command
    it is given: ≈ 14 ms less start-up for ``run``, ``python -X importtime``)."""
    parser = argparse.ArgumentParser(
        prog="python -m engine",
        description="Tandem: run Lua trading strategies on indicators verified against "
        "an independent OCaml implementation.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--version", action="version",
                        version=f"tandem {engine.__version__}, core: {engine.NATIVE.describe()}",
                        help="show the version and whether the compiled core is in use")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    builders = {"report": _add_report, "check": _add_check, "verify": _add_verify}
    run: argparse.ArgumentParser | None = None
    for name, help_text in COMMANDS.items():
        if only is not None and name != only:
            sub.add_parser(name, help=help_text, add_help=False)
        elif name == "run":
            run = _add_run(sub)
        elif name == "sweep":  # (every run option too: the run parser is its parent)
            _add_sweep(sub, run or _add_run(argparse.ArgumentParser().add_subparsers()))
        else:
            builders[name](sub)
    return parser


def _command(argv: Sequence[str]) -> str | None:
    """The command of ``argv`` when it is the first argument after ``--debug`` (else
    None: the whole parser then reports the error or the help)."""
    rest = [a for a in argv if a != "--debug"]
    return rest[0] if rest and rest[0] in COMMANDS else None


def _given(args: argparse.Namespace) -> dict[str, Any]:
    """The options the user gave for the command (argparse leaves the others out)."""
    return {k: v for k, v in vars(args).items() if k not in ("command", "debug")}


def run_config(args: argparse.Namespace) -> tuple[RunConfig, RunOutput]:
    """The ``run`` command's RunConfig and RunOutput from its parsed arguments."""
    from engine.run.config import (
        RunConfig,
        RunOutput,
        ShadowOptions,
        flag,
        parse_params,
        parse_strategy_for,
        parse_symbols,
    )

    given = _given(args)
    output = RunOutput(**{f.name: given.pop(f.name) for f in fields(RunOutput) if f.name in given})
    shadow = {
        f.name: given.pop(f"shadow_{f.name}")
        for f in fields(ShadowOptions)
        if f"shadow_{f.name}" in given
    }
    if given.pop("shadow_ocaml", False):
        given["shadow"] = ShadowOptions(**shadow)
    elif shadow:
        # a CI job asking for --shadow-strict without --shadow-ocaml would pass while
        # checking nothing: refuse instead of ignoring the flag
        flags = ", ".join(flag(f"shadow_{name}") for name in shadow)
        raise ConfigError(f"{flags} only applies with --shadow-ocaml; add it")
    for name, parse in (
        ("symbols", parse_symbols),
        ("params", parse_params),
        ("strategy_for", parse_strategy_for),
    ):
        if name in given:
            given[name] = parse(given[name])
    return RunConfig(**given), output


def sweep_config(args: argparse.Namespace) -> SweepConfig:
    """The ``sweep`` command's SweepConfig: its own options, the rest as ``run``'s."""
    from engine.sweep.plan import SweepConfig

    rest = argparse.Namespace(**vars(args))
    own: dict[str, Any] = {}
    for name in ("grid", "where", "random", "maximize", "jobs", "ray", "walk_forward",
                 "heatmap", "html"):
        if hasattr(rest, name):
            own[name] = getattr(rest, name)
            delattr(rest, name)
    if "grid" in own:
        own["grid"] = tuple(own["grid"])
    if "heatmap" in own:
        axes = tuple(a.strip() for a in own["heatmap"].split(","))
        if len(axes) != 2 or not all(axes):
            raise ConfigError(f"--heatmap {own['heatmap']!r}: expected two parameters X,Y")
        own["heatmap"] = axes
    run, output = run_config(rest)
    return SweepConfig(run=run, json=output.json, **own)


def check_config(args: argparse.Namespace) -> CheckConfig:
    """The ``check`` command's CheckConfig from its parsed arguments."""
    from engine.run.config import CheckConfig, parse_params

    given = _given(args)
    if "params" in given:
        given["params"] = parse_params(given["params"])
    return CheckConfig(**given)


def report_config(args: argparse.Namespace) -> ReportConfig:
    """The ``report`` command's ReportConfig from its parsed arguments."""
    from engine.run.config import ReportConfig

    return ReportConfig(**_given(args))


def verify_config(args: argparse.Namespace) -> VerifyConfig:
    """The ``verify`` command's VerifyConfig from its parsed arguments."""
    from engine.run.config import VerifyConfig

    return VerifyConfig(**_given(args))


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "run":
        from engine.run.command import run_main

        config, output = run_config(args)
        observer_factory = None
        if config.shadow is not None:
            from bridge.shadow.factory import make_shadow_observer

            observer_factory = make_shadow_observer
        return run_main(config, output, observer_factory)
    if args.command == "sweep":
        from engine.sweep.command import sweep_main

        sweep = sweep_config(args)
        shadow_factory = None
        if sweep.run.shadow is not None:
            from bridge.shadow.factory import make_in_run_shadow_observer

            shadow_factory = make_in_run_shadow_observer
        return sweep_main(sweep, shadow_factory)
    if args.command == "report":
        report = report_config(args)
        if report.sweep is not None:
            from engine.sweep.replay import sweep_report_main

            return sweep_report_main(report)
        from engine.run.report_command import report_main

        return report_main(report)
    if args.command == "check":
        from engine.run.check import check_main

        return check_main(check_config(args))
    from bridge.verify_command import verify_main

    return verify_main(verify_config(args))


def _single_threaded_blas() -> None:
    """Tandem does no BLAS work (no linalg, no matrix products), but numpy's OpenBLAS
    starts a thread per core when numpy is imported: ≈ 45 ms of CPU on 2 cores
    (more with more cores). One thread, unless the user set it; must run before
    numpy is imported."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m engine`` and the ``tandem`` script."""
    _single_threaded_blas()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(_command(argv)).parse_args(argv)
    try:
        return _dispatch(args)
    except TandemError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
