"""Error agreement: an input one implementation rejects, every other rejects too.

Bad periods are rejected by all five implementations (TA-Lib included);
non-finite values, non-finite Bollinger deviations and inputs of unequal
lengths by ours (TA-Lib silently computes with them, docs/design.md §3 says reject).
Python rejects with IndicatorError, the OCaml client with IndicatorError too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import example, given

from engine.errors import IndicatorError
from engine.indicators.registry import SPECS
from verify.cases import Case
from verify.harness import assert_all_reject
from verify.pinned import PINNED_ERRORS
from verify.profiles import verify_settings
from verify.strategies import bad_cases

#: Which implementations take part, by the kind of bad input.
_TAKES_PART = {
    "param": None,  # everybody
    "float_param": ("python-batch", "python-stream", "ocaml-batch", "ocaml-stream"),
    "non_finite": ("python-batch", "python-stream", "ocaml-batch", "ocaml-stream"),
    "length_mismatch": ("python-batch", "ocaml-batch", "talib"),
}
_TYPED = ("python-batch", "python-stream", "ocaml-batch", "ocaml-stream")


def _check(kind: str, case: Case, impls: list[Any]) -> None:
    wanted = _TAKES_PART[kind]
    chosen = [i for i in impls if wanted is None or i.label in wanted]
    for label, err in assert_all_reject(case, chosen):
        if label in _TYPED:
            assert isinstance(err, IndicatorError), (
                f"{label} rejected {case.short()} with {type(err).__name__}: {err} "
                f"(expected IndicatorError)\n  input: {case!r}"
            )


def _error_property(name: str) -> Callable[..., None]:
    @verify_settings()
    @given(bad=bad_cases(name))
    def prop(bad: tuple[str, Case], impls: list[Any]) -> None:
        _check(bad[0], bad[1], impls)

    for kind, pinned in PINNED_ERRORS.get(name, ()):
        prop = example(bad=(kind, pinned))(prop)
    prop.__name__ = f"test_{name}_bad_input_rejected_by_all"
    prop.__doc__ = f"{name}: every implementation rejects the same bad inputs."
    return prop


for _name in SPECS:
    globals()[f"test_{_name}_bad_input_rejected_by_all"] = _error_property(_name)
