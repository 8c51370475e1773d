"""Python client of the OCaml indicator server, and shadow mode."""

from bridge.client import OcamlIndicators, StreamHandle

__all__ = ["OcamlIndicators", "StreamHandle"]
