"""Shadow mode (docs: README "Shadow mode"): every indicator value a strategy reads,
checked against the OCaml implementation while the run goes on.

Modules, from the run's side inwards:

* ``observer``  — ``ShadowObserver`` (the RunObserver) and ``make_shadow_observer``;
* ``candidate`` — the worker thread's side: OCaml streams fed and compared in batches;
* ``mirror``    — one symbol's bar log and its mirrored streams;
* ``compare``   — a batch of served values against the candidate's;
* ``channel``   — the pipelined connection to the server;
* ``settings``  — ShadowConfig, the counters and the rate-limited log.
"""

from bridge.shadow.observer import ShadowObserver, make_shadow_observer

__all__ = ["ShadowObserver", "make_shadow_observer"]
