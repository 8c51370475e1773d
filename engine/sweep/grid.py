"""The parameter grid: ``--grid NAME=SPEC`` axes, their combinations, ``--where``, ``--random``.

A SPEC is a range ``START:STOP[:STEP]`` (both ends included when the steps land on
STOP; STEP defaults to 1 and must be > 0; START <= STOP) or a list ``A,B,C`` (numbers,
true/false or text). Range values are computed in decimal (``0.1:0.3:0.1`` gives
0.1, 0.2, 0.3 exactly as written), and every value stays text until it is typed
like the parameter's default in the strategy's ``params`` table
(``engine.strategy.params``: the one home of parameter conversion), so an integer
parameter refuses 2.5 and a boolean one takes true/false.

Combinations are the cartesian product of the axes in the order they were given
(the last axis varies fastest). ``--where`` drops those for which it is false;
``--random N --seed S`` then keeps N of them, drawn without replacement by
``random.Random(S)`` and kept in grid order (the same N for the same seed).
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final

from engine.errors import ConfigError, StrategyError
from engine.strategy.params import ParamValue, apply_overrides
from engine.sweep.expr import Where

#: Values one axis may hold and combinations one sweep may plan.
MAX_AXIS_VALUES: Final = 100_000
MAX_COMBINATIONS: Final = 1_000_000
_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

Combination = dict[str, ParamValue]


@dataclass(frozen=True, slots=True)
class Axis:
    """One ``--grid`` axis: a parameter name and its values, as text."""

    name: str
    values: tuple[str, ...]


def parse_axis(item: str) -> Axis:
    """``"fast=5:50:5"`` / ``"slow=20,50,100"`` → an Axis (ConfigError naming the item)."""
    name, sep, spec = item.partition("=")
    name, spec = name.strip(), spec.strip()
    if not sep or not _NAME.fullmatch(name):
        raise ConfigError(f"--grid {item!r}: expected NAME=START:STOP[:STEP] or NAME=A,B,C")
    if not spec:
        raise ConfigError(f"--grid {item!r}: no values after '='; e.g. {name}=5:50:5")
    values = _range(item, spec) if ":" in spec else _list(item, spec)
    if len(set(values)) != len(values):
        raise ConfigError(f"--grid {item!r}: a value is listed twice")
    return Axis(name, tuple(values))


def _list(item: str, spec: str) -> list[str]:
    values = [v.strip() for v in spec.split(",")]
    if any(not v for v in values):
        raise ConfigError(f"--grid {item!r}: an empty value in the list")
    if len(values) > MAX_AXIS_VALUES:
        raise ConfigError(f"--grid {item!r}: more than {MAX_AXIS_VALUES:,} values")
    return values


def _range(item: str, spec: str) -> list[str]:
    parts = spec.split(":")
    if len(parts) not in (2, 3):
        raise ConfigError(f"--grid {item!r}: a range is START:STOP or START:STOP:STEP")
    try:
        start, stop = Decimal(parts[0].strip()), Decimal(parts[1].strip())
        step = Decimal(parts[2].strip()) if len(parts) == 3 else Decimal(1)
    except InvalidOperation:
        raise ConfigError(
            f"--grid {item!r}: range bounds and step must be numbers, e.g. 5:50:5"
        ) from None
    if not (start.is_finite() and stop.is_finite() and step.is_finite()):
        raise ConfigError(f"--grid {item!r}: range bounds and step must be finite numbers")
    if step <= 0:
        raise ConfigError(f"--grid {item!r}: the step must be > 0, got {step}")
    if start > stop:
        raise ConfigError(
            f"--grid {item!r}: empty range, START {start} is above STOP {stop}; "
            f"write {stop}:{start}:{step}"
        )
    count = int((stop - start) // step) + 1
    if count > MAX_AXIS_VALUES:
        raise ConfigError(f"--grid {item!r}: {count:,} values, more than {MAX_AXIS_VALUES:,}")
    return [_text(start + i * step) for i in range(count)]


def _text(d: Decimal) -> str:
    """A decimal as plain text: 5 → "5", 0.10 → "0.1", 1E+1 → "10"."""
    if d == d.to_integral_value():
        return str(int(d))
    return format(d.normalize(), "f")


@dataclass(frozen=True, slots=True)
class Grid:
    """The axes of a sweep, checked against the strategy's declared parameters."""

    axes: tuple[Axis, ...]

    def __post_init__(self) -> None:
        if not self.axes:
            raise ConfigError("sweep: no --grid given; e.g. --grid fast=5:50:5 --grid slow=20,50")
        names = [a.name for a in self.axes]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ConfigError(f"--grid {twice[0]} is given twice; list all its values in one")
        size = 1
        for a in self.axes:
            size *= len(a.values)
        if size > MAX_COMBINATIONS:
            raise ConfigError(
                f"--grid: {size:,} combinations, more than {MAX_COMBINATIONS:,}; "
                "narrow the grid or sample it with --random N"
            )

    @property
    def names(self) -> tuple[str, ...]:
        """The axis names, in order."""
        return tuple(a.name for a in self.axes)

    def combinations(self, defaults: Mapping[str, ParamValue]) -> list[Combination]:
        """Every combination, typed like ``defaults`` (the strategy's params table).

        ConfigError for an axis naming no declared parameter ("did you mean") or a
        value the parameter's type refuses."""
        typed: list[list[ParamValue]] = []
        for axis in self.axes:
            try:
                typed.append([apply_overrides(defaults, {axis.name: v}, "--grid")[axis.name]
                              for v in axis.values])
            except StrategyError as exc:
                raise ConfigError(str(exc)) from None
        names = self.names
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*typed)]


def select(
    combos: Sequence[Combination],
    defaults: Mapping[str, ParamValue],
    where: Where | None,
    sample: int | None,
    seed: int,
) -> list[Combination]:
    """The combinations to run: those ``where`` keeps (evaluated over the defaults
    overridden by the combination), then ``sample`` of them (grid order kept).
    ConfigError when the grid is empty or the filter leaves nothing."""
    if not combos:
        raise ConfigError("--grid: the grid has no combination")
    kept = list(combos)
    if where is not None:
        where.check_names(defaults)
        kept = [c for c in kept if where.holds({**defaults, **c})]
        if not kept:
            raise ConfigError(
                f"--where {where.text!r}: no combination of the {len(combos):,} in the grid "
                "passes; loosen the filter or widen the grid"
            )
    if sample is not None:
        if sample < 1:
            raise ConfigError(f"--random {sample}: must be a whole number >= 1")
        if sample < len(kept):
            picked = sorted(random.Random(seed).sample(range(len(kept)), sample))
            kept = [kept[i] for i in picked]
    return kept
