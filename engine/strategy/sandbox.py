"""One sandboxed Lua 5.4 runtime: budgets, the whitelisted environment, the glue.

The runtime is created with lupa's safety options (no ``python.eval``, no
builtins, an attribute filter that refuses every attribute of every Python
object) and a memory cap; then the trusted prelude (``prelude.PRELUDE``)
seals it. The one Python object Lua holds is ``host``, a callable kept in an
upvalue of the prelude, through which the glue asks Python to open indicator
streams, log, read the window's high/low and past bars and check parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

import lupa.lua54 as lupa

from engine import bounds
from engine.strategy import prelude

Host = Callable[..., Any]


def _deny_attributes(obj: object, name: object, is_setting: bool) -> NoReturn:
    raise AttributeError("Python attributes are not reachable from a strategy")


class Sandbox:
    """A fresh ``lupa.lua54`` runtime sealed by the prelude.

    ``host(op, *args)`` is called by the glue (op codes in ``prelude``); it
    must not raise — errors are returned as values (see LuaStrategy).
    """

    def __init__(
        self, host: Host, *, instruction_budget: int, memory_mb: float, time_limit_s: float
    ) -> None:
        self.instruction_budget = instruction_budget
        self.time_limit_s = time_limit_s
        self.memory_bytes = int(memory_mb * 1024 * 1024)
        self.runtime = lupa.LuaRuntime(
            register_eval=False,
            register_builtins=False,
            attribute_filter=_deny_attributes,
            unpack_returned_tuples=True,
            max_memory=self.memory_bytes,
        )
        chunk = self.runtime.globals().load(prelude.PRELUDE, "=tandem-prelude")
        self.glue = chunk(
            host, instruction_budget, time_limit_s, prelude.GRAIN,
            prelude.OK, prelude.ERR, prelude.BUDGET, prelude.MEMORY,
            prelude.HOST_OPEN, prelude.HOST_LOG, prelude.HOST_EXTREMES, prelude.HOST_PARAMS,
            prelude.HOST_HISTORY,
            self.runtime.table_from(glue_limits()),
        )
        self.step: Callable[..., Any] = self.glue.step
        self._set_context: Callable[..., Any] = self.glue.set_context

    def set_context(self, *args: Any) -> Any:
        """Mirror the machine's context into Lua (``glue.set_context``).

        lupa converts the arguments to Lua values before its protected call, and
        a memory error there is a Lua panic that aborts the whole process; a
        strategy that filled its runtime to the cap would get there. So the
        conversion runs with GLUE_HEADROOM_BYTES above the cap, which is set back
        at once: the script's next allocation past the cap fails as usual.
        """
        self.runtime.set_max_memory(self.memory_bytes + bounds.GLUE_HEADROOM_BYTES)
        try:
            return self._set_context(*args)
        finally:
            self.runtime.set_max_memory(self.memory_bytes)

    def load(self, source: str, name: str) -> Any:
        """Compile (text only) and run the script; returns the glue's status tuple."""
        return self.glue.load(source, name)

    def add_indicator(self, name: str, nparams: int, outputs: tuple[str, ...]) -> None:
        """Expose ``indicators.<name>`` taking up to ``nparams`` numbers."""
        self.glue.add_indicator(name, nparams, *outputs)

    def reset_indicators(self) -> None:
        """Forget every indicator function (and its stream slots)."""
        self.glue.reset_indicators()

    def lines_defined(self) -> tuple[int, int, int]:
        """The lines where the three strategy functions are defined."""
        a, b, c = self.glue.functions_defined()
        return int(a), int(b), int(c)

    def collect(self) -> None:
        """Run a full garbage collection (after a memory-cap error)."""
        self.glue.collect()

    def log_dropped(self) -> int:
        """Log lines the glue counted instead of sending them (see engine.bounds)."""
        return int(self.glue.log_dropped())

    def memory_used(self) -> int:
        """Bytes currently allocated by the runtime."""
        return int(self.runtime.get_memory_used())


#: The limits of engine.bounds the glue applies itself.
GLUE_LIMITS = (
    "HOST_CALL_INSTRUCTIONS", "HOST_OPEN_INSTRUCTIONS", "BYTES_PER_INSTRUCTION",
    "LOG_LINE_BYTES", "LOG_LINES_PER_CALL", "LOG_BURST_LINES", "LOG_LINES_PER_BAR",
    "RESULT_FIELDS", "STRING_BYTES", "CONTEXT_BYTES", "SCALAR_BYTES", "ERROR_MESSAGE_BYTES",
    "CALL_DEPTH",
)


def glue_limits() -> dict[str, int]:
    """name -> value of every limit the glue reads (handed to the prelude as a table)."""
    return {name: int(getattr(bounds, name)) for name in GLUE_LIMITS}
