"""Pure parsing of Binance kline data: WebSocket messages and REST rows → bars.

Raises `Malformed` (a ValueError) for data that is not what Binance sends and
`MarketDataError` (from `Bar`) for a kline that breaks docs/design.md §2. Prices
arrive as strings and are converted with float().
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from engine.market.bar import Bar


class Malformed(ValueError):
    """A message or row that does not have the shape Binance documents."""


EventKind = Literal["bar", "open_kline", "shutdown", "other"]


@dataclass(frozen=True, slots=True)
class Event:
    """One parsed WebSocket message: a closed bar, an open kline, a shutdown or else."""

    kind: EventKind
    bar: Bar | None = None


def parse_message(raw: str | bytes, symbols: Mapping[str, str], interval: str) -> Event:
    """Parse one WebSocket message of a combined (or raw) kline stream.

    `symbols` maps the lower-case stream symbol to the engine's symbol. Closed
    klines (`k.x` true) become bars; open ones are `open_kline`; a
    `serverShutdown` event is `shutdown`; subscription replies and other event
    types are `other`.
    """
    try:
        message = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Malformed(f"not JSON ({exc})") from None
    if not isinstance(message, dict):
        raise Malformed(f"expected a JSON object, got {type(message).__name__}")
    data = message.get("data", message) if "stream" in message else message
    if not isinstance(data, dict):
        raise Malformed("'data' is not an object")
    event = data.get("e")
    if event == "serverShutdown":
        return Event("shutdown")
    if event != "kline":
        return Event("other")
    kline = data.get("k")
    if not isinstance(kline, dict):
        raise Malformed("kline event without a 'k' object")
    return _kline_event(kline, symbols, interval)


def _kline_event(kline: dict[str, object], symbols: Mapping[str, str], interval: str) -> Event:
    name = kline.get("s")
    if not isinstance(name, str) or name.lower() not in symbols:
        raise Malformed(f"kline for an unexpected symbol {name!r}")
    if kline.get("i") != interval:
        raise Malformed(f"kline interval {kline.get('i')!r}, expected {interval!r}")
    closed = kline.get("x")
    if not isinstance(closed, bool):
        raise Malformed(f"kline field 'x' = {closed!r} is not a boolean")
    if not closed:
        return Event("open_kline")
    open_time = _int_field(kline, "t")
    o, h, lo, c, v = (_number(kline, key) for key in ("o", "h", "l", "c", "v"))
    return Event("bar", Bar(symbols[name.lower()], open_time, o, h, lo, c, v))


def _int_field(obj: Mapping[str, object], key: str) -> int:
    value = obj.get(key)
    if type(value) is not int:
        raise Malformed(f"field {key!r} = {value!r} is not an integer")
    return value


def _number(obj: Mapping[str, object], key: str) -> float:
    """A price or volume: Binance sends decimal strings; numbers are accepted too."""
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Malformed(f"field {key!r} = {value!r} is not a decimal string")
    try:
        return float(value)
    except ValueError:
        raise Malformed(f"field {key!r} = {value!r} is not a number") from None


@dataclass(frozen=True, slots=True)
class RestKline:
    """One REST kline row: the bar and its close time (ms, inclusive)."""

    bar: Bar
    close_time: int


def parse_rest_row(row: object, symbol: str) -> RestKline:
    """Parse one row of `GET /api/v3/klines`:
    [open time, open, high, low, close, volume, close time, …] (at least 7 items).
    """
    if not isinstance(row, list) or len(row) < 7:
        raise Malformed("expected a kline array of at least 7 items")
    fields = dict(zip(("t", "o", "h", "l", "c", "v", "T"), row, strict=False))
    open_time, close_time = _int_field(fields, "t"), _int_field(fields, "T")
    o, h, lo, c, v = (_number(fields, key) for key in ("o", "h", "l", "c", "v"))
    return RestKline(Bar(symbol, open_time, o, h, lo, c, v), close_time)


def parse_rest_body(body: bytes) -> list[object]:
    """The JSON array a klines request returns; Malformed otherwise (e.g. an error object)."""
    try:
        rows = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Malformed(f"REST reply is not JSON ({exc})") from None
    if not isinstance(rows, list):
        raise Malformed(f"REST reply is not a kline array: {str(rows)[:200]}")
    return rows
