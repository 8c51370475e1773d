"""Timestamp conversion for file input: ms, seconds, µs, ns or ISO-8601 → ms (UTC).

Numbers are classified by magnitude, which is unambiguous for dates between
1973 and 5138: below 1e11 they are seconds, below 1e14 milliseconds, below
1e17 microseconds, else nanoseconds (µs and ns are truncated to the ms).
Fractional seconds are accepted when they are a whole number of milliseconds.
ISO-8601 text without a zone is UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MS: Final = timedelta(milliseconds=1)


def number_to_ms(value: int) -> int:
    """Convert an integer epoch timestamp of any unit (by magnitude) to milliseconds."""
    size = abs(value)
    if size < 100_000_000_000:
        return value * 1000
    if size < 100_000_000_000_000:
        return value
    if size < 100_000_000_000_000_000:
        return value // 1000
    return value // 1_000_000


def parse_timestamp(text: str) -> int:
    """Parse an epoch number (any unit, by magnitude) or ISO-8601 text into ms.

    Raises ValueError with a readable reason when the text is neither, or when a
    fraction does not land on a whole millisecond.
    """
    try:
        return number_to_ms(int(text))
    except ValueError:
        pass
    # (decimal only for text timestamps: a plain CSV run does without its import,
    # ≈ 2 ms of start-up by -X importtime)
    from decimal import Decimal, InvalidOperation

    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        return _iso_to_ms(text)
    if not number.is_finite():
        raise ValueError(f"timestamp is not finite: {text!r}")
    if number == number.to_integral_value():
        return number_to_ms(int(number))
    ms = number * 1000
    if abs(number) >= 100_000_000_000 or ms != ms.to_integral_value():
        raise ValueError(f"timestamp {text!r} is not a whole millisecond")
    return int(ms)


def _iso_to_ms(text: str) -> int:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"timestamp {text!r} is neither an epoch number (s, ms, µs) nor ISO-8601"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - EPOCH
    if delta % ONE_MS:
        raise ValueError(f"timestamp {text!r} is not a whole millisecond")
    return delta // ONE_MS
