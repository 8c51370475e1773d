"""Context: the typed key -> value store of a strategy (docs/design.md §4)."""

from __future__ import annotations

import pytest

from engine.errors import StrategyError
from engine.state import Context


def test_holds_the_four_scalar_types() -> None:
    c = Context({"f": 1.5, "i": 2})
    c["s"] = "text"
    c["b"] = False
    assert c.as_dict() == {"f": 1.5, "i": 2, "s": "text", "b": False}
    assert len(c) == 4 and "s" in c and list(c) == ["f", "i", "s", "b"]
    del c["f"]
    assert "f" not in c
    c.clear()
    assert len(c) == 0


@pytest.mark.parametrize("value", [None, [1], (1,), {"a": 1}, {1, 2}, b"x", 1j, object(), len])
def test_other_values_are_refused_naming_key_and_type(value: object) -> None:
    c = Context({"kept": 1})
    with pytest.raises(StrategyError, match=r"key 'bad' has a value of type") as info:
        c["bad"] = value  # type: ignore[assignment]
    assert type(value).__name__ in str(info.value)
    assert c.as_dict() == {"kept": 1}


@pytest.mark.parametrize("key", [1, "", None, 2.5])
def test_keys_must_be_non_empty_strings(key: object) -> None:
    c = Context()
    with pytest.raises(StrategyError, match="keys must be non-empty strings"):
        c[key] = 1  # type: ignore[index]
    assert len(c) == 0


@pytest.mark.parametrize("key", ["state", "position"])
def test_reserved_keys_are_refused(key: str) -> None:
    with pytest.raises(StrategyError, match=rf"key '{key}' is reserved"):
        Context()[key] = 1


def test_update_is_all_or_nothing() -> None:
    c = Context({"a": 1})
    with pytest.raises(StrategyError, match="key 'z'"):
        c.update({"b": 2, "z": [3]})
    assert c.as_dict() == {"a": 1}
    c.update([("b", 2)], c=3.0)
    assert c.as_dict() == {"a": 1, "b": 2, "c": 3.0}


def test_setdefault_goes_through_the_check() -> None:
    c = Context()
    with pytest.raises(StrategyError):
        c.setdefault("x", [1])  # type: ignore[arg-type]
    assert "x" not in c
