"""The actions a strategy can return, and their parsing from a plain dict (docs/design.md §4).

``parse_action`` is the strict gate between a Lua table (converted to a dict by
the strategy layer) and the state machine: an unknown action or field, a
missing field or a value of the wrong type is an ``ActionError`` naming the
action and field, with a "did you mean" suggestion, so a typo such as
``stop_los`` can never be silently ignored.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, dataclass
from typing import ClassVar

from engine.bounds import REASON_BYTES, VALUE_QUOTE_CHARS, shorten, utf8_size
from engine.errors import StrategyError


class ActionError(StrategyError):
    """A strategy action that is unknown, malformed or not allowed now.

    Attributes name the ``action``, the ``field``, its ``value`` and the
    machine's ``state`` (None when the action was refused before the machine
    saw it).
    """

    def __init__(
        self, action: str | None, field: str, value: object, problem: str, state: str | None
    ) -> None:
        where = f"action {action!r}" if action is not None else "action table"
        tail = f" (state {state})" if state is not None else ""
        shown = shorten(repr(value), VALUE_QUOTE_CHARS)
        super().__init__(f"{where}: field {shorten(repr(field), VALUE_QUOTE_CHARS)} = {shown} "
                         f"{problem}{tail}")
        self.action = action
        self.field = field
        self.value = value
        self.problem = problem
        self.state = state

    def __reduce__(self) -> tuple[object, ...]:
        # Shadow mode's process receives refusals pickled (bridge/shadow/process.py).
        # A value pickle may refuse (a Lua table) travels as its repr; the message
        # is kept as it was.
        value = self.value if isinstance(self.value, _PLAIN) else repr(self.value)
        return (_restore_action_error, (type(self), self.args, self.action, self.field, value,
                                        self.problem, self.state))


#: Values an ActionError pickles as they are.
_PLAIN = (str, int, float, bool, type(None))


def _restore_action_error(cls: type[ActionError], args: tuple[object, ...],
                          action: str | None, field: str, value: object, problem: str,
                          state: str | None) -> ActionError:
    """An ActionError as pickled by ``ActionError.__reduce__``."""
    exc = cls.__new__(cls)
    exc.args = args
    exc.action, exc.field, exc.value, exc.problem, exc.state = (action, field, value, problem,
                                                                 state)
    return exc


@dataclass(frozen=True, slots=True)
class CancelAnalysis:
    """Analyzing -> Idle."""

    reason: str | None = None
    name: ClassVar[str] = "cancel_analysis"


@dataclass(frozen=True, slots=True)
class _Entry:
    """The fields of both entries (docs/strategies.md, "Orders").

    Sizing: exactly one of ``quantity`` (units), ``size`` (fraction of equity,
    0 < size <= 1) and ``risk`` (fraction of equity lost if the stop fills,
    0 < risk <= 1; needs ``stop_loss``). Order type: no ``price`` and no
    ``stop_price`` = a market order; ``price`` = a limit order; ``stop_price``
    = a stop order (not both). ``expire_bars`` (limit and stop orders only):
    the bars the order stays live, 0 = good till cancelled, default 1.
    """

    quantity: float | None = None
    price: float | None = None
    stop_loss: float | None = None
    take_profit: float | None = None
    reason: str | None = None
    size: float | None = None
    risk: float | None = None
    stop_price: float | None = None
    expire_bars: int | None = None


@dataclass(frozen=True, slots=True)
class EnterLong(_Entry):
    """Analyzing -> InPosition (long)."""

    name: ClassVar[str] = "enter_long"


@dataclass(frozen=True, slots=True)
class EnterShort(_Entry):
    """Analyzing -> InPosition (short)."""

    name: ClassVar[str] = "enter_short"


@dataclass(frozen=True, slots=True)
class Exit:
    """InPosition -> Idle. ``price`` None = a market order (slipped), else a limit order
    live from the next bar for ``expire_bars`` bars (0 = good till cancelled, default 1)."""

    price: float | None = None
    reason: str | None = None
    expire_bars: int | None = None
    name: ClassVar[str] = "exit"


@dataclass(frozen=True, slots=True)
class UpdateStopLoss:
    """Move the stop (InPosition only); must be on the protective side of the close."""

    stop_loss: float
    reason: str | None = None
    name: ClassVar[str] = "update_stop_loss"


@dataclass(frozen=True, slots=True)
class UpdateTakeProfit:
    """Move the target (InPosition only); must be beyond the close in the position's favour."""

    take_profit: float
    reason: str | None = None
    name: ClassVar[str] = "update_take_profit"


Action = CancelAnalysis | EnterLong | EnterShort | Exit | UpdateStopLoss | UpdateTakeProfit



#: How long a limit or stop order stays live when ``expire_bars`` is left out.
DEFAULT_EXPIRE_BARS = 1


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """How the parser reads one numeric field: required (no default) and whole-number."""

    required: bool
    integer: bool


def _fields(cls: type[Action]) -> dict[str, FieldSpec]:
    """An action's numeric fields -> FieldSpec, from its dataclass and type hints."""
    hints = typing.get_type_hints(cls)
    return {
        f.name: FieldSpec(f.default is MISSING, int in typing.get_args(hints[f.name])
                          or hints[f.name] is int)
        for f in dataclasses.fields(cls)
        if f.name != "reason"
    }


#: action name -> (class, {field: spec}); "action" and "reason" are accepted everywhere.
_SPECS: Mapping[str, tuple[type[Action], Mapping[str, FieldSpec]]] = {
    cls.name: (cls, _fields(cls))
    for cls in (CancelAnalysis, EnterLong, EnterShort, Exit, UpdateStopLoss, UpdateTakeProfit)
}

ACTION_NAMES: tuple[str, ...] = tuple(_SPECS)


#: Longest word ``suggest`` compares: difflib's cost grows with it, and a name
#: this long is no typo of a field name.
_SUGGEST_CHARS = 64


def suggest(word: str, candidates: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest candidate, or '' when none is close."""
    if len(word) > _SUGGEST_CHARS:
        return ""
    import difflib  # here: only a refused table needs it (≈ 2 ms of every start-up)

    match = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def parse_action(fields: Mapping[str, object], state: str | None = None) -> Action:
    """Turn a strategy's action table into an Action, or raise ActionError.

    Checks the table only (names, presence, types, finiteness); whether the
    action fits the machine's state and the bar is checked by the machine.
    ``state``, when given, is named in the error (docs/design.md §4).
    """
    try:
        return _parse(fields)
    except ActionError as exc:
        if state is None:
            raise
        raise ActionError(exc.action, exc.field, exc.value, exc.problem, state) from None


def _parse(fields: Mapping[str, object]) -> Action:
    name = _action_name(fields)
    cls, spec = _SPECS[name]
    kwargs: dict[str, object] = {}
    for key, value in fields.items():
        if key == "action":
            continue
        if key == "reason":
            if not isinstance(value, str):
                raise ActionError(name, key, value, "must be a string", None)
            if (size := utf8_size(value, REASON_BYTES)) > REASON_BYTES:
                raise ActionError(name, key, value, f"has {size:,} bytes; a reason (journaled "
                                  f"with the transition) may have at most {REASON_BYTES}", None)
            kwargs[key] = value
        elif key in spec:
            number = _number(name, key, value)
            kwargs[key] = _whole(name, key, value, number) if spec[key].integer else number
        else:
            allowed = ", ".join(["action", *spec, "reason"])
            hint = suggest(str(key), [*spec, "reason", "action"])
            raise ActionError(
                name, str(key), value, f"is not a field of {name!r}{hint}; fields: {allowed}", None
            )
    for key, field in spec.items():
        if field.required and key not in kwargs:
            raise ActionError(name, key, None, "is required", None)
    return cls(**kwargs)  # type: ignore[arg-type]


def _action_name(fields: Mapping[str, object]) -> str:
    for key in fields:
        if not isinstance(key, str):
            raise ActionError(None, str(key), fields[key], "has a non-string key", None)
    if "action" not in fields:
        hint = suggest("action", [str(k) for k in fields])
        raise ActionError(None, "action", None, f"is missing{hint}", None)
    name = fields["action"]
    if not isinstance(name, str) or name not in _SPECS:
        hint = suggest(name, _SPECS) if isinstance(name, str) else ""
        raise ActionError(
            None, "action", name, f"is not an action{hint}; actions: {', '.join(_SPECS)}", None
        )
    return name


def _number(action: str, field: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ActionError(action, field, value, f"must be a number, not {type(value).__name__}",
                          None)
    try:
        number = float(value)
    except OverflowError:  # an int beyond the float range
        number = math.inf
    if not math.isfinite(number):
        raise ActionError(action, field, value, "must be a finite number", None)
    return number


def _whole(action: str, field: str, value: object, number: float) -> int:
    if not number.is_integer():
        raise ActionError(action, field, value, "must be a whole number", None)
    return int(number)
