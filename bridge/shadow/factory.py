"""Which shadow observer a run gets (``python -m engine run --shadow-ocaml``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bridge.shadow.process import ShadowProcess, start

if TYPE_CHECKING:
    from bridge.shadow.observer import ShadowObserver
    from bridge.shadow.settings import MismatchSink
    from engine.run.config import RunConfig


def make_shadow_observer(
    config: RunConfig, journal: MismatchSink | None = None
) -> ShadowObserver | ShadowProcess:
    """The observer factory of ``python -m engine run --shadow-ocaml``.

    A ShadowProcess (bridge/shadow/process.py), forked now, unless the run asked
    for ``--shadow-in-run`` or it cannot fork (other threads run); else the
    in-run ShadowObserver of ``make_in_run_shadow_observer``. Either way the OCaml
    servers are started by the worker, so a missing executable shows up as a
    counted shadow error, not a failed run.
    """
    if config.shadow is None or not config.shadow.in_run:
        forked = start(config, journal)
        if forked is not None:
            return forked
    return make_in_run_shadow_observer(config, journal)


def make_in_run_shadow_observer(
    config: RunConfig, journal: MismatchSink | None = None
) -> ShadowObserver:
    """A ShadowObserver, whose worker thread starts now in the run; the observer
    factory of ``python -m engine sweep --shadow-ocaml``. A sweep's workers keep
    every core busy already; a shadow process per task would only add its own start
    and the pickling (≈ 3 µs a bar) to the CPU the sweep shares out."""
    from bridge.shadow.observer import ShadowObserver, shadow_config

    return ShadowObserver(shadow_config(config), journal)
