"""A scripted fake of Binance's kline WebSocket and REST API on 127.0.0.1 (no tests here).

The truth is a list of valid 1-minute bars per symbol. Each WebSocket connection
plays one `Script`: a REST level (the last bar index REST serves as closed,
set during the handshake so it is in place before the client's backfill) and a
list of actions. REST also serves every bar the stream has already sent
(closed bars exist on REST) plus the next bar as a still-open row; before the
first connection it serves the bars up to `history_level` (those closed before
the client started). A klines request without `startTime` gets the newest rows up
to `endTime`, as Binance's. `/api/v3/exchangeInfo?symbol=` lists the symbols of
the truth (or `known`), and answers HTTP 400 code -1121 for any other.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from engine.market.bar import Bar

T0 = 1_704_067_200_000
MIN = 60_000
FUTURE_MS = 4_102_444_800_000  # 2100-01-01: the close time of a still-open kline


def truth(symbol: str, count: int) -> list[Bar]:
    """Valid, distinct bars T0, T0+1m, … (prices vary with the index)."""
    out = []
    for i in range(count):
        base = 100.0 + (i % 50) + (0.5 if symbol.startswith("E") else 0.0)
        out.append(Bar(symbol, T0 + i * MIN, base, base + 2.0, base - 1.0, base + 1.0, 10.0 + i))
    return out


def kline_message(bar: Bar, closed: bool = True, **override: Any) -> str:
    k = {
        "t": bar.timestamp, "T": bar.timestamp + MIN - 1, "s": bar.symbol, "i": "1m",
        "o": repr(bar.open), "h": repr(bar.high), "l": repr(bar.low), "c": repr(bar.close),
        "v": repr(bar.volume), "x": closed,
    }  # fmt: skip
    k.update(override)
    data = {"e": "kline", "E": bar.timestamp + MIN, "s": bar.symbol, "k": k}
    return json.dumps({"stream": f"{bar.symbol.lower()}@kline_1m", "data": data})


def rest_row(bar: Bar, close_time: int | None = None) -> list[object]:
    ct = bar.timestamp + MIN - 1 if close_time is None else close_time
    return [bar.timestamp, repr(bar.open), repr(bar.high), repr(bar.low), repr(bar.close),
            repr(bar.volume), ct, "0", 1, "0", "0", "0"]  # fmt: skip


@dataclass
class Script:
    """One connection: REST level at connect and the actions to play.

    Actions: ("bar", symbol, i) closed kline; ("open", symbol, i) open kline;
    ("raw", text); ("invalid", symbol, i) a closed kline with high < low;
    ("shutdown",); ("drop",) abort without a close frame; ("close",) close
    normally; ("sleep", seconds); ("wait_rest", n) wait until REST has had n
    requests (so the client's backfill is over). After the last action the
    server idles.
    """

    rest_level: int
    actions: Sequence[tuple[Any, ...]]


@dataclass
class FakeBinance:
    bars: dict[str, list[Bar]]
    scripts: list[Script]
    rest_fail_first: int = 0  # answer this many REST requests with HTTP 500
    history_level: int = -1  # the last bar index REST serves as closed before any connection
    known: set[str] | None = None  # the symbols exchangeInfo knows (None: those of bars)
    info_requests: list[str] = field(default_factory=list)
    connections: int = 0
    rest_requests: list[dict[str, str]] = field(default_factory=list)
    level: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # --- REST ---------------------------------------------------------------
    def klines(self, query: dict[str, str]) -> tuple[int, bytes]:
        with self.lock:
            self.rest_requests.append(query)
            if len(self.rest_requests) <= self.rest_fail_first:
                return 500, b'{"code":-1000,"msg":"boom"}'
            symbol, start = query["symbol"], int(query.get("startTime", -1))
            end = int(query.get("endTime", 2**62))
            limit = int(query["limit"])
            level = self.level.get(query["symbol"], self.history_level)
            rows = []
            for i, bar in enumerate(self.bars[symbol]):
                if start <= bar.timestamp <= end and i <= level + 1:
                    rows.append(rest_row(bar, None if i <= level else FUTURE_MS))
            page = rows[-limit:] if "startTime" not in query else rows[:limit]
            return 200, json.dumps(page).encode()

    def exchange_info(self, query: dict[str, str]) -> tuple[int, bytes]:
        symbol = query.get("symbol", "")
        with self.lock:
            self.info_requests.append(symbol)
        known = set(self.bars) if self.known is None else self.known
        if symbol not in known:
            return 400, b'{"code":-1121,"msg":"Invalid symbol."}'
        return 200, json.dumps({"symbols": [{"symbol": symbol, "status": "TRADING"}]}).encode()

    # --- WebSocket ----------------------------------------------------------
    def on_handshake(self, _conn: ServerConnection, _request: Request) -> Response | None:
        script = self.scripts[min(self.connections, len(self.scripts) - 1)]
        with self.lock:
            for symbol in self.bars:
                self.level[symbol] = max(self.level.get(symbol, -1), script.rest_level)
        return None

    async def handler(self, ws: ServerConnection) -> None:
        script = self.scripts[min(self.connections, len(self.scripts) - 1)]
        self.connections += 1
        for action in script.actions:
            kind = action[0]
            if kind in ("bar", "open", "invalid"):
                bar = self.bars[action[1]][action[2]]
                if kind == "bar":
                    with self.lock:
                        self.level[bar.symbol] = max(self.level[bar.symbol], action[2])
                    await ws.send(kline_message(bar))
                elif kind == "open":
                    await ws.send(kline_message(bar, closed=False))
                else:
                    await ws.send(kline_message(bar, h=repr(bar.low - 1.0)))
            elif kind == "raw":
                await ws.send(action[1])
            elif kind == "shutdown":
                await ws.send(json.dumps({"e": "serverShutdown", "E": 1}))
            elif kind == "drop":
                ws.transport.abort()
                return
            elif kind == "close":
                await ws.close()
                return
            elif kind == "sleep":
                await asyncio.sleep(action[1])
            elif kind == "wait_rest":
                for _ in range(1000):  # at most ~5 s
                    if len(self.rest_requests) >= action[1]:
                        break
                    await asyncio.sleep(0.005)
        await ws.wait_closed()  # idle until the client leaves or the server closes


class _RestHandler(BaseHTTPRequestHandler):
    fake: FakeBinance

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/api/v3/klines":
            status, body = self.fake.klines(query)
        elif url.path == "/api/v3/exchangeInfo":
            status, body = self.fake.exchange_info(query)
        else:
            self.send_error(404)
            return
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass


class Running:
    """Both servers running; `ws_url` and `rest_url` point at them."""

    def __init__(self, fake: FakeBinance) -> None:
        self.fake = fake
        handler = type("Handler", (_RestHandler,), {"fake": fake})
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(
            target=self.http.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.ws: Server | None = None

    async def __aenter__(self) -> Running:
        self.thread.start()
        self.ws = await serve(
            self.fake.handler, "127.0.0.1", 0, process_request=self.fake.on_handshake
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.ws is not None
        self.ws.close()
        await self.ws.wait_closed()
        self.http.shutdown()
        self.http.server_close()

    @property
    def ws_url(self) -> str:
        assert self.ws is not None
        port = self.ws.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}"
