"""The runner's layer: per-symbol runner, orchestrator, journal, summary, report, the
``run`` and ``check`` commands, and the Python API::

    from engine.run import RunConfig, backtest
    result = backtest(RunConfig(strategy=Path("strategies/sma_crossover.lua"), bars=5000))

The names below are imported when first used, so importing one module of the
package (engine/cli.py imports only ``engine.run.config``) does not load the rest.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.run.config import CheckConfig, RunConfig, ShadowOptions, VerifyConfig
    from engine.run.session import RunResult, backtest

_HOMES = {
    "CheckConfig": "engine.run.config",
    "RunConfig": "engine.run.config",
    "ShadowOptions": "engine.run.config",
    "VerifyConfig": "engine.run.config",
    "RunResult": "engine.run.session",
    "backtest": "engine.run.session",
}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(home), name)


__all__ = ["CheckConfig", "RunConfig", "RunResult", "ShadowOptions", "VerifyConfig", "backtest"]
