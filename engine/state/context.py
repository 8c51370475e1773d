"""The strategy's typed key -> value store (docs/design.md §4)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping

from engine.bounds import CONTEXT_BYTES, CONTEXT_FIELDS, SCALAR_BYTES, STRING_BYTES, utf8_size
from engine.errors import StrategyError

#: The only value types a Context holds.
ContextValue = float | int | str | bool

_ALLOWED = (float, int, str, bool)

#: Keys a strategy cannot set: Lua sees the machine's state and position under them.
RESERVED_KEYS = frozenset({"state", "position"})


def check_entry(key: object, value: object, where: str = "context") -> None:
    """Raise StrategyError unless ``key`` is a non-empty, non-reserved str of at
    most STRING_BYTES bytes and ``value`` a float, int, str (at most STRING_BYTES
    bytes) or bool."""
    if type(key) is not str or key == "":
        raise StrategyError(
            f"{where}: key {_quote(key)} ({type(key).__name__}) is not allowed; "
            "keys must be non-empty strings"
        )
    for what, text in (("key", key), ("value", value)):
        if isinstance(text, str) and (size := utf8_size(text, STRING_BYTES)) > STRING_BYTES:
            raise StrategyError(
                f"{where}: the {what} of {_quote(key)} has {size:,} bytes; keys and string "
                f"values may have at most {STRING_BYTES:,} bytes (UTF-8)"
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


def entry_size(key: str, value: ContextValue) -> int:
    """What an entry counts toward CONTEXT_BYTES: key and string value by their
    UTF-8 length, a number or boolean as SCALAR_BYTES."""
    size = utf8_size(key, CONTEXT_BYTES)
    return size + (utf8_size(value, CONTEXT_BYTES) if isinstance(value, str) else SCALAR_BYTES)


def _quote(key: object) -> str:
    text = repr(key)
    return text if len(text) <= 64 else f"{text[:60]}…"


def _type_name(value: object) -> str:
    if isinstance(value, Mapping | list | tuple):
        return f"table ({type(value).__name__})"
    if callable(value):
        return f"function ({type(value).__name__})"
    return type(value).__name__


class Context(MutableMapping[str, ContextValue]):
    """A dict of str -> float | int | str | bool; anything else is a StrategyError.

    The keys "state" and "position" are reserved (Lua reads the machine's state
    and position there). Non-finite floats are allowed. It holds at most
    CONTEXT_FIELDS entries and CONTEXT_BYTES bytes (``entry_size``), strings of
    at most STRING_BYTES (engine.bounds): more is a StrategyError.

    ``update`` is atomic: all entries are checked before any is stored.
    """

    __slots__ = ("_bytes", "_data")

    def __init__(self, entries: Mapping[str, ContextValue] | None = None) -> None:
        self._data: dict[str, ContextValue] = {}
        self._bytes = 0
        if entries:
            self.update(entries)

    def __getitem__(self, key: str) -> ContextValue:
        return self._data[key]

    def __setitem__(self, key: str, value: ContextValue) -> None:
        self.update(((key, value),))

    def __delitem__(self, key: str) -> None:
        value = self._data.pop(key)
        self._bytes -= entry_size(key, value)

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
        merged = {**self._data, **dict(items)}
        if len(merged) > CONTEXT_FIELDS:
            raise StrategyError(
                f"context: {len(merged)} entries would exceed the limit of {CONTEXT_FIELDS}; "
                "the context is cleared when a position closes, not by cancel_analysis: "
                "reuse keys"
            )
        size = sum(entry_size(k, v) for k, v in merged.items())
        if size > CONTEXT_BYTES:
            raise StrategyError(
                f"context: {size:,} bytes would exceed the limit of {CONTEXT_BYTES:,} (keys and "
                f"strings by their UTF-8 length, {SCALAR_BYTES} per number or boolean)"
            )
        self._data = merged
        self._bytes = size

    def clear(self) -> None:
        """Remove every entry."""
        self._data.clear()
        self._bytes = 0

    @property
    def size(self) -> int:
        """The bytes the entries count toward CONTEXT_BYTES."""
        return self._bytes

    def as_dict(self) -> dict[str, ContextValue]:
        """A plain-dict copy of the entries."""
        return dict(self._data)
