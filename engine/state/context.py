"""The strategy's typed key -> value store (docs/design.md §4)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping

from engine.errors import StrategyError

#: The only value types a Context holds.
ContextValue = float | int | str | bool

_ALLOWED = (float, int, str, bool)

#: Keys a strategy cannot set: Lua sees the machine's state and position under them.
RESERVED_KEYS = frozenset({"state", "position"})


def check_entry(key: object, value: object, where: str = "context") -> None:
    """Raise StrategyError unless ``key`` is a non-empty, non-reserved str and
    ``value`` a float, int, str or bool."""
    if type(key) is not str or key == "":
        raise StrategyError(
            f"{where}: key {key!r} ({type(key).__name__}) is not allowed; "
            "keys must be non-empty strings"
        )
    if key in RESERVED_KEYS:
        raise StrategyError(
            f"{where}: key {key!r} is reserved (context.state and context.position are "
            "the machine's, read-only); choose another name"
        )
    if not isinstance(value, _ALLOWED):
        raise StrategyError(
            f"{where}: key {key!r} has a value of type {_type_name(value)}; "
            "only number (float, int), string and boolean values are allowed"
        )


def _type_name(value: object) -> str:
    if isinstance(value, Mapping | list | tuple):
        return f"table ({type(value).__name__})"
    if callable(value):
        return f"function ({type(value).__name__})"
    return type(value).__name__


class Context(MutableMapping[str, ContextValue]):
    """A dict of str -> float | int | str | bool; anything else is a StrategyError.

    The keys "state" and "position" are reserved (Lua reads the machine's state
    and position there). Non-finite floats are allowed.

    ``update`` is atomic: all entries are checked before any is stored.
    """

    __slots__ = ("_data",)

    def __init__(self, entries: Mapping[str, ContextValue] | None = None) -> None:
        self._data: dict[str, ContextValue] = {}
        if entries:
            self.update(entries)

    def __getitem__(self, key: str) -> ContextValue:
        return self._data[key]

    def __setitem__(self, key: str, value: ContextValue) -> None:
        check_entry(key, value)
        self._data[key] = value

    def __delitem__(self, key: str) -> None:
        del self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"Context({self._data!r})"

    def update(  # type: ignore[override]
        self,
        other: Mapping[str, object] | Iterable[tuple[str, object]] = (),
        /,
        **kwargs: object,
    ) -> None:
        """Check every entry, then store them all (nothing is stored on error)."""
        pairs = other.items() if isinstance(other, Mapping) else other
        items = [*pairs, *kwargs.items()]
        for key, value in items:
            check_entry(key, value)
        self._data.update(items)

    def clear(self) -> None:
        """Remove every entry."""
        self._data.clear()

    def as_dict(self) -> dict[str, ContextValue]:
        """A plain-dict copy of the entries."""
        return dict(self._data)
