"""Shadow mode (docs: README "Shadow mode"): every indicator value a strategy reads,
checked against the OCaml implementation while the run goes on.

Modules, from the run's side inwards:

* ``factory``   — ``make_shadow_observer``: the observer a run gets;
* ``process``   — ``ShadowProcess``: the run's side of a forked shadow process;
* ``pipe``      — the frames and calls between the run and that process;
* ``child``     — the process's side: the run's calls replayed into a ShadowObserver;
* ``observer``  — ``ShadowObserver`` (the RunObserver whose worker thread checks);
* ``candidate`` — the worker thread's side: OCaml streams fed and compared in batches;
* ``trades``    — the worker thread's trade check: every bar replayed into an OCaml book;
* ``mirror``    — one symbol's bar log and its mirrored streams;
* ``compare``   — a batch of served values against the candidate's;
* ``channel``   — the pipelined connection to the server;
* ``settings``  — ShadowConfig, the counters and the rate-limited log.

The names below are imported on first use (PEP 562): a run imports only
``factory``, ``process`` and ``pipe``; the forked process imports the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bridge.shadow.factory import make_shadow_observer
    from bridge.shadow.observer import ShadowObserver

__all__ = ["ShadowObserver", "make_shadow_observer"]


def __getattr__(name: str) -> object:
    if name == "ShadowObserver":
        from bridge.shadow.observer import ShadowObserver

        return ShadowObserver
    if name == "make_shadow_observer":
        from bridge.shadow.factory import make_shadow_observer

        return make_shadow_observer
    raise AttributeError(f"module 'bridge.shadow' has no attribute {name!r}")
