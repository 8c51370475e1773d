"""The strategy layer's error type: a StrategyError that knows where it happened."""

from __future__ import annotations

from engine.errors import StrategyError


class LuaStrategyError(StrategyError):
    """A strategy failed at load time or in a call.

    ``kind`` is one of "load", "error" (a Lua runtime error), "budget" (the
    instruction budget), "memory" (the memory cap), "result" (a returned value
    of the wrong shape) or "action" (an action the machine refused).
    ``function`` is the Lua function called (None at load time); ``location``
    is "file:line" when known; ``traceback`` holds the script's own frames.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        function: str | None = None,
        location: str | None = None,
        traceback: str = "",
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.function = function
        self.location = location
        self.traceback = traceback
