"""BinanceFeed against a scripted fake Binance on 127.0.0.1 (see test_feed_binance_fake)."""

from __future__ import annotations

import asyncio
import json
import random
import socket
from collections.abc import Sequence

import pytest
from test_feed_binance_fake import MIN, T0, FakeBinance, Running, Script, kline_message, truth

from engine.errors import ConfigError, FeedError, MarketDataError
from engine.market.bar import Bar
from engine.market.feeds import open_feed
from engine.market.feeds.binance import BinanceFeed, Timing
from engine.market.feeds.binance_parse import Malformed, parse_message, parse_rest_row

FAST = Timing(backoff_initial=0.01, backoff_max=0.05, stale_after=2.0, open_timeout=2.0,
              rest_timeout=2.0)  # fmt: skip
STREAMS = {"btcusdt": "BTCUSDT", "ethusdt": "ETHUSDT"}


async def collect(fake: FakeBinance, symbols: Sequence[str], bars: int,
                  timing: Timing = FAST) -> tuple[list[Bar], BinanceFeed]:  # fmt: skip
    async with Running(fake) as servers:
        feed = BinanceFeed(symbols, "1m", servers.ws_url, servers.rest_url, bars=bars,
                           timing=timing, rng=random.Random(1))  # fmt: skip
        got = [bar async for bar in feed]
        await feed.aclose()
    return got, feed


def run(coro: object) -> tuple[list[Bar], BinanceFeed]:
    async def bounded() -> tuple[list[Bar], BinanceFeed]:
        return await asyncio.wait_for(coro, 20)  # type: ignore[arg-type]

    return asyncio.run(bounded())


def per_symbol(bars: list[Bar], symbol: str) -> list[Bar]:
    return [b for b in bars if b.symbol == symbol]


def reconnect_logs(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "reconnecting" in r.getMessage()]


def test_every_bar_arrives_once_and_in_order_through_drops_gaps_junk_and_shutdown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    btc, eth = truth("BTCUSDT", 12), truth("ETHUSDT", 12)
    B, E = "BTCUSDT", "ETHUSDT"
    fake = FakeBinance(
        {B: btc, E: eth},
        [
            Script(-1, [("bar", B, 0), ("bar", E, 0), ("open", B, 1), ("raw", "{not json"),
                        ("raw", "[1, 2]"), ("raw", kline_message(truth("XRPUSDT", 1)[0])),
                        ("bar", B, 1), ("bar", E, 1), ("bar", B, 1), ("drop",)]),
            # REST now holds bars up to 4: the client backfills 2..4, the stream re-sends 4.
            Script(4, [("wait_rest", 2), ("bar", B, 4), ("bar", E, 4), ("bar", B, 5), ("bar", E, 5),
                       ("invalid", B, 6), ("bar", E, 6), ("bar", B, 7), ("bar", E, 7),
                       ("shutdown",)]),
            Script(9, [("wait_rest", 5), ("bar", B, 10), ("bar", E, 10), ("close",)]),
            Script(10, [("wait_rest", 7), ("bar", B, 11), ("bar", E, 11)]),
        ],
    )  # fmt: skip
    got, feed = run(collect(fake, [B, E], 12))
    assert per_symbol(got, B) == btc
    assert per_symbol(got, E) == eth
    s = feed.stats
    assert s.bars == 24
    assert s.reconnects == 3
    assert s.duplicate_bars == 3  # B1 re-sent; B4 and E4 after their backfill
    assert s.malformed == 3  # not JSON, not an object, unknown symbol
    assert s.rejected_bars == 4  # + the invalid kline of B6 (REST filled the hole)
    assert s.backfilled == 6 + 1 + 4  # 2..4 of both; B6; 8..9 of both
    kinds = [r.kind for r in s.records]
    assert kinds.count("invalid") == 1 and kinds.count("duplicate") == 3
    assert any("high" in r.reason for r in s.records if r.kind == "invalid")
    logs = reconnect_logs(caplog)
    assert "no close frame" in logs[0]
    assert logs[1] == "Binance feed reconnecting in 0.00 s: server sent serverShutdown"


def test_backfill_pages_through_a_long_gap() -> None:
    btc = truth("BTCUSDT", 2600)
    fake = FakeBinance(
        {"BTCUSDT": btc},
        [
            Script(-1, [("bar", "BTCUSDT", 0), ("drop",)]),
            Script(2500, [("wait_rest", 3), ("bar", "BTCUSDT", 2501)]),
        ],
    )
    got, feed = run(collect(fake, ["BTCUSDT"], 2502))
    assert got == btc[:2502]
    assert feed.stats.backfilled == 2500
    starts = [int(q["startTime"]) for q in fake.rest_requests]
    assert starts == [T0 + MIN, T0 + 1001 * MIN, T0 + 2001 * MIN]
    assert all(q["limit"] == "1000" for q in fake.rest_requests)


def test_the_still_open_last_rest_row_is_dropped_and_delivered_later_by_the_stream() -> None:
    btc = truth("BTCUSDT", 4)
    fake = FakeBinance(
        {"BTCUSDT": btc},
        [Script(-1, [("bar", "BTCUSDT", 0), ("drop",)]),
         Script(1, [("wait_rest", 1), ("bar", "BTCUSDT", 2), ("bar", "BTCUSDT", 3)])],
    )  # fmt: skip
    got, feed = run(collect(fake, ["BTCUSDT"], 4))
    assert got == btc
    assert feed.stats.backfilled == 1  # only bar 1; bar 2 was still open on REST
    assert feed.stats.duplicate_bars == 0


def test_a_silent_connection_trips_the_watchdog(caplog: pytest.LogCaptureFixture) -> None:
    btc = truth("BTCUSDT", 3)
    fake = FakeBinance(
        {"BTCUSDT": btc},
        [Script(-1, [("bar", "BTCUSDT", 0)]), Script(1, [("wait_rest", 1), ("bar", "BTCUSDT", 2)])],
    )
    timing = Timing(backoff_initial=0.01, backoff_max=0.02, stale_after=0.3)
    got, feed = run(collect(fake, ["BTCUSDT"], 3, timing))
    assert got == btc
    assert feed.stats.reconnects == 1
    assert fake.connections == 2
    assert "no message for 0.3 s" in reconnect_logs(caplog)[0]


def test_the_connection_is_renewed_at_its_age_limit_even_while_busy(
    caplog: pytest.LogCaptureFixture,
) -> None:
    btc = truth("BTCUSDT", 3)
    fake = FakeBinance(
        {"BTCUSDT": btc},
        [Script(-1, [("bar", "BTCUSDT", 0), ("sleep", 0.15), ("open", "BTCUSDT", 1),
                     ("sleep", 0.15), ("open", "BTCUSDT", 1)]),
         Script(1, [("wait_rest", 1), ("bar", "BTCUSDT", 2)])],
    )  # fmt: skip
    timing = Timing(backoff_initial=5.0, stale_after=5.0, max_connection_age=0.25)
    got, feed = run(collect(fake, ["BTCUSDT"], 3, timing))
    assert got == btc
    assert feed.stats.reconnects == 1
    assert reconnect_logs(caplog) == [
        "Binance feed reconnecting in 0.00 s: connection reached its age limit "
        "(Binance cuts at 24 h)"
    ]


def test_a_failing_rest_backfill_reconnects_and_retries() -> None:
    btc = truth("BTCUSDT", 3)
    fake = FakeBinance(
        {"BTCUSDT": btc},
        [
            Script(-1, [("bar", "BTCUSDT", 0), ("drop",)]),
            Script(1, []),
            Script(1, [("wait_rest", 2), ("bar", "BTCUSDT", 2)]),
        ],
        rest_fail_first=1,
    )
    got, feed = run(collect(fake, ["BTCUSDT"], 3))
    assert got == btc
    assert feed.stats.reconnects == 2
    assert len(fake.rest_requests) == 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_an_unreachable_server_is_a_feed_error_after_max_failures() -> None:
    url = f"ws://127.0.0.1:{free_port()}"
    feed = BinanceFeed(["BTCUSDT"], "1m", url, "http://127.0.0.1:1", timing=FAST, max_failures=3)

    async def first() -> None:
        async for _ in feed:
            break

    with pytest.raises(FeedError, match=f"cannot stream klines from {url}.*after 3 attempts"):
        asyncio.run(asyncio.wait_for(first(), 10))
    assert feed.stats.reconnects == 2


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"interval": "2m"}, "not a Binance kline interval"),
        ({"interval": "1x"}, "invalid interval '1x'"),
        ({"ws_url": "http://x"}, "invalid --binance-ws-url 'http://x'"),
        ({"rest_url": "ftp://x"}, "invalid --binance-rest-url 'ftp://x'"),
        ({"symbols": ["BTC-USDT"]}, "invalid Binance symbol"),
        ({"bars": 0}, "invalid bar limit 0"),
    ],
)
def test_bad_configuration_is_a_config_error(kwargs: dict[str, object], needle: str) -> None:
    args: dict[str, object] = {"symbols": ["BTCUSDT"]} | kwargs
    with pytest.raises(ConfigError, match=needle):
        BinanceFeed(**args)  # type: ignore[arg-type]


def test_open_feed_builds_the_binance_feed_with_the_urls() -> None:
    feed = open_feed("binance", "btcusdt,ETHUSDT", interval="5m", bars=7,
                     ws_url="ws://127.0.0.1:9", rest_url="http://127.0.0.1:9")  # fmt: skip
    assert isinstance(feed, BinanceFeed)
    assert feed.stream_url == ("ws://127.0.0.1:9/stream?streams=btcusdt@kline_5m/ethusdt@kline_5m")
    assert feed.total == 14


def test_backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half() -> None:
    feed = BinanceFeed(["BTCUSDT"], timing=Timing(backoff_initial=1.0, backoff_max=8.0),
                       rng=random.Random(3))  # fmt: skip
    for failures, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (40, 8.0)]:
        delays = [feed._backoff(failures) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert max(delays) - min(delays) > ceiling / 10  # jittered, not constant


# --- message parsing -----------------------------------------------------------


def bar0() -> Bar:
    return truth("BTCUSDT", 1)[0]


def test_a_closed_kline_becomes_the_bar_wrapped_or_raw() -> None:
    wrapped = kline_message(bar0())
    raw = json.dumps(json.loads(wrapped)["data"])
    for message in (wrapped, raw, wrapped.encode()):
        event = parse_message(message, STREAMS, "1m")
        assert event.kind == "bar" and event.bar == bar0()


def test_open_klines_shutdown_and_other_events() -> None:
    assert parse_message(kline_message(bar0(), closed=False), STREAMS, "1m").kind == "open_kline"
    shutdown = json.dumps({"stream": "x", "data": {"e": "serverShutdown", "E": 1}})
    assert parse_message(shutdown, STREAMS, "1m").kind == "shutdown"
    assert parse_message('{"e": "serverShutdown", "E": 1}', STREAMS, "1m").kind == "shutdown"
    assert parse_message('{"result": null, "id": 1}', STREAMS, "1m").kind == "other"


@pytest.mark.parametrize(
    ("message", "needle"),
    [
        ("{oops", "not JSON"),
        ("[]", "expected a JSON object"),
        ('{"stream": "s", "data": 5}', "'data' is not an object"),
        ('{"e": "kline"}', "without a 'k' object"),
        (kline_message(bar0(), s="DOGEUSDT"), "unexpected symbol 'DOGEUSDT'"),
        (kline_message(bar0(), i="5m"), "interval '5m', expected '1m'"),
        (kline_message(bar0(), x="true"), "'x' = 'true' is not a boolean"),
        (kline_message(bar0(), t=1.5), "'t' = 1.5 is not an integer"),
        (kline_message(bar0(), c="abc"), "'c' = 'abc' is not a number"),
        (kline_message(bar0(), v=None), "'v' = None is not a decimal string"),
    ],
)
def test_malformed_messages(message: str, needle: str) -> None:
    with pytest.raises(Malformed, match=needle):
        parse_message(message, STREAMS, "1m")


def test_an_invalid_kline_is_a_market_data_error() -> None:
    with pytest.raises(MarketDataError, match="'low'"):
        parse_message(kline_message(bar0(), l="500"), STREAMS, "1m")


def test_rest_rows() -> None:
    row = [T0, "1.5", "2", "1", "1.75", "3", T0 + MIN - 1, "0", 1, "0", "0", "0"]
    kline = parse_rest_row(row, "BTCUSDT")
    assert kline.bar == Bar("BTCUSDT", T0, 1.5, 2.0, 1.0, 1.75, 3.0)
    assert kline.close_time == T0 + MIN - 1
    with pytest.raises(Malformed, match="at least 7 items"):
        parse_rest_row(row[:5], "BTCUSDT")
    with pytest.raises(Malformed, match="'T' = 'x' is not an integer"):
        parse_rest_row([*row[:6], "x"], "BTCUSDT")


def test_bars_carry_the_symbol_as_given_while_binance_sees_its_own_spelling() -> None:
    btc = truth("BTCUSDT", 3)
    fake = FakeBinance(
        {"BTCUSDT": btc},
        [Script(-1, [("bar", "BTCUSDT", 0), ("drop",)]),
         Script(1, [("wait_rest", 1), ("bar", "BTCUSDT", 2)])],
    )  # fmt: skip
    got, _ = run(collect(fake, ["btcusdt"], 3))
    assert got == [Bar("btcusdt", *b[1:]) for b in btc]
    assert [q["symbol"] for q in fake.rest_requests] == ["BTCUSDT"]


def test_symbols_repeated_in_another_case_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="repeated in another case"):
        BinanceFeed(["btcusdt", "BTCUSDT"])


# -- live warm-up and the symbol check (issue 12) ----------------------------------------


async def warmed(fake: FakeBinance, symbols: Sequence[str], history: int, bars: int,
                 ) -> tuple[dict[str, list[Bar]], list[Bar]]:
    async with Running(fake) as servers:
        feed = BinanceFeed(symbols, "1m", servers.ws_url, servers.rest_url, bars=bars,
                           history=history, timing=FAST, rng=random.Random(1))
        warm = await feed.warm_up()
        got = [bar async for bar in feed]
        await feed.aclose()
    return warm, got


def test_warm_up_fetches_the_last_closed_bars_then_the_stream_continues_after_them() -> None:
    btc = truth("BTCUSDT", 40)
    # bars 0..29 closed before the client starts (bar 30 is still open); the stream then
    # sends 32 and 33: the reconnect backfill brings 30 and 31 in between
    fake = FakeBinance({"BTCUSDT": btc}, [Script(31, [("bar", "BTCUSDT", 32),
                                                      ("bar", "BTCUSDT", 33)])],
                       history_level=29)
    warm, got = asyncio.run(asyncio.wait_for(warmed(fake, ["BTCUSDT"], 12, 4), 20))
    assert warm == {"BTCUSDT": btc[18:30]}  # the newest 12 closed: 18..29, not the open 30
    assert got == btc[30:34]
    assert fake.info_requests == ["BTCUSDT"]
    first = fake.rest_requests[0]
    assert "startTime" not in first and first["limit"] == "13"  # 12 + the open row


def test_warm_up_pages_back_beyond_one_request() -> None:
    btc = truth("BTCUSDT", 2600)
    fake = FakeBinance({"BTCUSDT": btc}, [Script(2599, [])], history_level=2598)

    async def only_warm() -> dict[str, list[Bar]]:
        async with Running(fake) as servers:
            feed = BinanceFeed(["BTCUSDT"], "1m", servers.ws_url, servers.rest_url,
                               history=2500, timing=FAST)
            return await feed.warm_up()

    warm = asyncio.run(asyncio.wait_for(only_warm(), 20))
    # 2,500 closed bars end at 2598 (2599 is open): 99..2598, in three pages of <= 1,000
    assert warm["BTCUSDT"] == btc[99:2599]
    assert [int(q["limit"]) for q in fake.rest_requests] == [1000, 1000, 501]


def test_a_symbol_binance_does_not_know_is_an_error_at_start() -> None:
    fake = FakeBinance({"BTCUSDT": truth("BTCUSDT", 5), "NOPEUSDT": truth("NOPEUSDT", 5)},
                       [Script(-1, [])], known={"BTCUSDT"})
    with pytest.raises(FeedError, match="Binance does not know the symbol 'NOPEUSDT'"):
        asyncio.run(asyncio.wait_for(warmed(fake, ["BTCUSDT", "NOPEUSDT"], 0, 1), 20))
    assert fake.connections == 0  # refused before any stream was opened


def test_a_bad_history_value_is_a_config_error() -> None:
    for bad in (-1, 2.5, True):
        with pytest.raises(ConfigError, match="history"):
            BinanceFeed(["BTCUSDT"], history=bad)  # type: ignore[arg-type]
