"""Python client of the OCaml indicator server, and shadow mode.

``OcamlIndicators`` and ``StreamHandle`` are imported on first use (PEP 562), so
that a run importing ``bridge.shadow`` does not pay for the client's imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bridge.client import OcamlIndicators, StreamHandle

__all__ = ["OcamlIndicators", "StreamHandle"]


def __getattr__(name: str) -> object:
    if name in __all__:
        from bridge import client

        return getattr(client, name)
    raise AttributeError(f"module 'bridge' has no attribute {name!r}")
