"""``python -m engine run``: one backtest or live run (``engine.run.session``), printed.

Exit codes: 0 — the run ended normally; 1 — it ended but a symbol's strategy
was stopped after too many consecutive errors, or ``--shadow-strict`` saw a
mismatch or shadow error; 2 — a usage or data error (printed by engine/cli.py);
128 + signal — stopped by SIGINT / SIGTERM (summary printed, journal complete).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from typing import Any

from engine.run.config import RunConfig, RunOutput
from engine.run.report import progress_bar, render_summary
from engine.run.session import ObserverFactory, backtest


def run_main(
    config: RunConfig,
    output: RunOutput | None = None,
    observer_factory: ObserverFactory | None = None,
) -> int:
    """Run ``config``, print its summary as ``output`` says; return the exit code."""
    output = output or RunOutput()
    _setup_logging()
    result = backtest(
        config,
        observer_factory=observer_factory,
        progress=None if output.json else progress_bar,
    )
    _print(output, result.summary)
    if output.html is not None:
        from engine.run.report_command import write_report

        write_report(config.journal, result.run_id, output.html)
        if not output.json:
            print(f"HTML report: {output.html}")
    if result.failure is not None:
        raise result.failure  # after the summary: what ran until the failure is reported
    return _exit_code(config, result.summary)


def _print(output: RunOutput, summary: Mapping[str, Any]) -> None:
    if output.json:
        sys.stdout.flush()
        print(json.dumps(summary, separators=(",", ":"), allow_nan=False))
    else:
        render_summary(summary)


def _exit_code(config: RunConfig, summary: Mapping[str, Any]) -> int:
    if summary["signal"] is not None:
        return 128 + int(summary["signal"])
    if summary["stopped_symbols"]:
        return 1
    shadow = summary["shadow"]
    strict = config.shadow is not None and config.shadow.strict
    if strict and (shadow["mismatches"] or shadow["errors"]):
        print(
            f"error: --shadow-strict: {shadow['mismatches']} mismatch(es), "
            f"{shadow['errors']} shadow error(s); see the journal's shadow_mismatches",
            file=sys.stderr,
        )
        return 1
    return 0


def _setup_logging() -> None:
    """Run messages (strategy errors, reloads, Lua ``log``) go to stderr."""
    logger = logging.getLogger("tandem")
    if not logger.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


class _StderrHandler(logging.Handler):
    """Writes to the *current* ``sys.stderr`` (which tests and callers may replace)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)
