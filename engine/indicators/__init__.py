"""Layer 2: technical indicators with TA-Lib 0.7.1's semantics.

Batch functions (numpy, whole series) live here; O(1)-per-bar streaming
versions in `engine.indicators.streaming`; the one table of indicator facts
(inputs, parameters and their ranges, outputs, lookbacks, TA-Lib twins, where
each implementation lives) in `engine.indicators.registry`. Every registry
indicator is an attribute of this package (`engine.indicators.<name>`, its
batch function), whether or not it is imported by name below.
"""

from __future__ import annotations

from typing import Any

from engine.indicators.batch import *  # noqa: F403  (batch.__all__: the batch functions)
from engine.indicators.batch import __all__ as _batch_names


def __getattr__(name: str) -> Any:
    """The batch function of registry indicator ``name`` (those not imported above)."""
    from engine.indicators.registry import SPECS

    spec = SPECS.get(name)
    if spec is None:
        raise AttributeError(f"module 'engine.indicators' has no attribute {name!r}")
    return spec.batch


__all__ = list(_batch_names)
