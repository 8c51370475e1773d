"""Minimal Binance REST client for kline backfill (stdlib urllib in a worker thread)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Final

from engine.market.feeds.binance_parse import Malformed, parse_rest_body

MAX_LIMIT: Final = 1000  # Binance's maximum klines per request


class RestFailure(Exception):
    """A klines request failed (network, HTTP status or a reply that is not a kline array)."""


def klines_url(
    rest_url: str, symbol: str, interval: str, start_ms: int | None, end_ms: int | None,
    limit: int,
) -> str:
    """The URL of `GET /api/v3/klines` for one page (no start: the newest rows up to the end,
    or up to now)."""
    query: dict[str, object] = {"symbol": symbol, "interval": interval, "limit": limit}
    if start_ms is not None:
        query["startTime"] = start_ms
    if end_ms is not None:
        query["endTime"] = end_ms
    return f"{rest_url.rstrip('/')}/api/v3/klines?{urllib.parse.urlencode(query)}"


def _get(url: str, timeout: float) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "tandem-engine"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            body: bytes = reply.read()
            return body
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:200].decode("utf-8", "replace")
        raise RestFailure(f"GET {url}: HTTP {exc.code} {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise RestFailure(f"GET {url}: {getattr(exc, 'reason', exc)}") from None


async def fetch_klines(
    rest_url: str,
    symbol: str,
    interval: str,
    start_ms: int | None,
    end_ms: int | None = None,
    limit: int = MAX_LIMIT,
    timeout: float = 10.0,
) -> list[object]:
    """One page of raw kline rows (oldest first); RestFailure when the request fails."""
    url = klines_url(rest_url, symbol, interval, start_ms, end_ms, limit)
    body = await asyncio.to_thread(_get, url, timeout)
    try:
        return parse_rest_body(body)
    except Malformed as exc:
        raise RestFailure(f"GET {url}: {exc}") from None


class UnknownSymbol(Exception):
    """Binance's exchangeInfo does not list the symbol."""


async def check_symbol(rest_url: str, symbol: str, timeout: float = 10.0) -> None:
    """`GET /api/v3/exchangeInfo?symbol=`: UnknownSymbol when Binance does not list
    `symbol` (it answers HTTP 400, code -1121 "Invalid symbol"), RestFailure when the
    request itself fails."""
    url = f"{rest_url.rstrip('/')}/api/v3/exchangeInfo?{urllib.parse.urlencode({'symbol': symbol})}"
    try:
        body = await asyncio.to_thread(_get, url, timeout)
    except RestFailure as exc:
        if "HTTP 400" in str(exc) and "-1121" in str(exc):
            raise UnknownSymbol(f"GET {url}: {exc}") from None
        raise
    try:
        listed = [s.get("symbol") for s in json.loads(body).get("symbols", [])]
    except (ValueError, AttributeError, TypeError) as exc:
        raise RestFailure(f"GET {url}: not an exchangeInfo reply: {exc}") from None
    if symbol not in listed:
        raise UnknownSymbol(f"GET {url}: the reply lists {listed[:5]!r}")
