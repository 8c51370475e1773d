"""Bar intervals: "1m", "5m", "1h", "1d" … → milliseconds."""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Final

from engine.errors import ConfigError

UNIT_MS: Final = MappingProxyType(
    {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
)
BINANCE_INTERVALS: Final = frozenset(
    {"1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w"}
)
_PATTERN: Final = re.compile(r"([1-9][0-9]*)([smhdw])")


def parse_interval(text: str) -> int:
    """Parse an interval such as "1m", "15m", "4h", "1d" or "1w" into milliseconds.

    Raises ConfigError naming the value and the valid form.
    """
    match = _PATTERN.fullmatch(text.strip())
    if match is None:
        raise ConfigError(
            f"invalid interval {text!r}: expected a positive whole number followed by "
            "s, m, h, d or w (e.g. 1m, 5m, 1h, 1d)"
        )
    return int(match.group(1)) * UNIT_MS[match.group(2)]


def binance_interval(text: str) -> int:
    """Like `parse_interval`, but only the kline intervals Binance serves (1M excluded)."""
    ms = parse_interval(text)
    if text.strip() not in BINANCE_INTERVALS:
        valid = ", ".join(sorted(BINANCE_INTERVALS, key=parse_interval))
        raise ConfigError(f"interval {text!r} is not a Binance kline interval; valid: {valid}")
    return ms
