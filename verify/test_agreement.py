"""Every implementation of every indicator agrees on adversarial valid inputs.

One property per indicator: hypothesis draws an OHLCV series inside docs/design.md
§3's domain, then parameters (edges included), then a stream split; Python
batch, Python streaming, TA-Lib 0.7.1, OCaml batch and OCaml streaming all
compute it and every pair must have the same NaN mask and stay inside the
agreement contract. Counterexamples are pinned in ``verify/pinned.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import example, given

from engine.indicators.registry import SPECS
from verify.cases import Case
from verify.harness import assert_agree
from verify.pinned import PINNED
from verify.profiles import verify_settings
from verify.strategies import cases

#: The indicators of docs/design.md §3; the registry may add more, never lose one.
DESIGNED = (
    "sma", "ema", "wma", "rsi", "macd", "bollinger", "atr", "stoch",
    "willr", "cci", "adx", "mfi", "obv", "roc", "mom",
)  # fmt: skip


def _agreement_property(name: str) -> Callable[..., None]:
    @verify_settings()
    @given(case=cases(name))
    def prop(case: Case, impls: list[Any]) -> None:
        assert_agree(case, impls, steer=True)

    for pinned in PINNED.get(name, ()):
        prop = example(case=pinned)(prop)
    prop.__name__ = f"test_{name}_implementations_agree"
    prop.__doc__ = f"{name}: all implementations agree on drawn and pinned inputs."
    return prop


for _name in SPECS:
    globals()[f"test_{_name}_implementations_agree"] = _agreement_property(_name)


def test_registry_covers_the_designed_indicators() -> None:
    assert set(DESIGNED) <= set(SPECS)
