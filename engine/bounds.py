"""Every limit on what a strategy can push onto the host, in one place (issue 17).

It sits beside errors.py, below every layer: the state machine (Context,
actions), the strategy glue and the runner all read it.

The Lua VM has its own budgets (instructions, CPU time, memory; see
``LuaStrategy``). These bound the *host* side: what crosses from Lua to Python,
what is written to stderr and to the journal. The glue (``prelude``) receives
its limits from here; ``Context``, ``parse_action`` and the runner import them.
docs/strategies.md's bounds table is tested against these constants.
"""

from __future__ import annotations

from typing import Final

# -- log (``print`` / ``indicators.log``), per strategy instance -------------------

#: Bytes of one log line; a longer line is cut and marked "… [N bytes cut]".
LOG_LINE_BYTES: Final = 1024
#: Log lines one call may write; the rest of that call's lines are counted, not written.
LOG_LINES_PER_CALL: Final = 100
#: The per-run rate: a bucket of LOG_BURST_LINES lines, refilled by
#: LOG_LINES_PER_BAR lines before every call; a line finding it empty is counted
#: ("… N more log lines suppressed" in the summary and the journal's run row).
LOG_BURST_LINES: Final = 1000
LOG_LINES_PER_BAR: Final = 2

# -- the cost of a host crossing, charged to the instruction budget ----------------

#: Instructions charged for every call from Lua into Python (≈ its cost: 1-3 µs).
HOST_CALL_INSTRUCTIONS: Final = 200
#: Instructions charged for asking to open an indicator stream (seeded from the
#: window: 0.1 ms and more); a failing request under pcall pays the same.
HOST_OPEN_INSTRUCTIONS: Final = 10_000
#: One more instruction per this many bytes of every string that crosses to Python.
BYTES_PER_INSTRUCTION: Final = 32

# -- what a strategy returns and the context ---------------------------------------

#: Fields of one returned table (detect_opportunity's facts, an action).
RESULT_FIELDS: Final = 200
#: Bytes of one string in a returned table: a key or a string value.
STRING_BYTES: Final = 4096
#: Bytes of an action's free-text ``reason`` (it is journaled with the transition).
REASON_BYTES: Final = 256
#: Entries the context may hold (it accumulates until a position closes).
CONTEXT_FIELDS: Final = 256
#: Bytes of the whole context, and of one returned table: every key and string
#: value by its UTF-8 length, every number or boolean as 8.
CONTEXT_BYTES: Final = 65_536
#: What a number or boolean counts toward CONTEXT_BYTES.
SCALAR_BYTES: Final = 8

#: Memory above the Lua cap the glue may use while it mirrors the context into
#: Lua (more than the largest context): the conversion runs outside Lua's
#: protection, where running out would abort the process.
GLUE_HEADROOM_BYTES: Final = 4 * CONTEXT_BYTES

# -- errors ------------------------------------------------------------------------

#: Bytes of a Lua error message, and separately of its traceback, that cross to Python.
ERROR_MESSAGE_BYTES: Final = 2000
#: Characters of a strategy error's full text (message and frames) logged or journaled.
ERROR_TEXT_CHARS: Final = 5000
#: Nested Lua calls (stack depth) a call may reach; deeper ends it like a runaway.
CALL_DEPTH: Final = 1000
#: Strategy errors written to stderr per symbol; later ones are counted and journaled.
ERRORS_LOGGED: Final = 100
#: Strategy errors journaled per symbol; later ones are only counted (the summary's
#: ``strategy_errors_unjournaled``).
ERRORS_JOURNALED: Final = 1000
#: Characters of a returned value quoted in an action error.
VALUE_QUOTE_CHARS: Final = 80


def shorten(text: str, limit: int) -> str:
    """``text`` if it has at most ``limit`` characters, else its first ``limit``
    followed by "… [N more characters]"."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit:,} more characters]"


def utf8_size(text: str, limit: int) -> int:
    """The UTF-8 length of ``text``, or any number > ``limit`` once it is clearly
    longer (without encoding a huge string)."""
    if len(text) > limit:
        return len(text)
    if text.isascii():
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))
