"""The candidate side of shadow mode, run on the observer's worker thread.

``Candidate.process(items)`` takes a batch of observer events in run order:
bars go into each symbol's log and, one PUSH per bar, to the OCaml server in
one pipelined exchange; opened streams are opened there too. Replies are
compared with the values the strategy was served. Every fault of the server
(missing, dead, hung, corrupt) is counted, the server restarted with
exponential backoff, and every stream re-seeded from its own first bar.
Nothing here ever raises into the run.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from itertools import chain
from operator import itemgetter
from typing import cast

import numpy as np

from bridge import protocol as p
from bridge.shadow.channel import Channel, Reply
from bridge.shadow.compare import Difference, differences
from bridge.shadow.mirror import (
    BarLog,
    FloatArray,
    MirrorStream,
    Served,
    SymbolMirror,
    flatten,
    history_rows,
    new_stream,
    open_frame,
    python_matrix,
)
from bridge.shadow.settings import MismatchSink, RateLimitedLog, ShadowConfig, ShadowStats
from engine.errors import BridgeError
from engine.market.bar import Bar
from engine.observer import IndicatorValue, Params

log = logging.getLogger("tandem.shadow")

#: (symbol, bar, values served) — values None: the queue was full, push only.
BarEvent = tuple[str, Bar, Served | None]
#: (symbol, name, params, history, value) of stream_opened.
OpenEvent = tuple[str, str, Params, Mapping[str, FloatArray], IndicatorValue]
_INT64_MAX = (1 << 63) - 1


class Candidate:
    """The OCaml server and the mirrors of every symbol; see the module docstring."""

    def __init__(self, config: ShadowConfig, journal: MismatchSink | None) -> None:
        self.config = config
        self.journal = journal
        self.stats = ShadowStats()
        self.mirrors: dict[str, SymbolMirror] = {}
        self.logger = RateLimitedLog(config.log_interval)
        self._channel: Channel | None = None
        self._next_attempt = 0.0
        self._backoff = config.backoff_initial
        self._faults_in_row = 0
        self._started = False
        self.gave_up: str | None = None

    # --- events ------------------------------------------------------------------

    def process(self, items: Sequence[BarEvent | OpenEvent]) -> None:
        """Handle a batch of events in order; opens split the pipelined pushes."""
        start = 0
        sizes = list(map(len, items))  # 3: a bar, 5: an opened stream (rare)
        bars = cast(Sequence[BarEvent], items)  # in the slices between opens
        while 5 in sizes[start:]:
            at = sizes.index(5, start)
            self._bars(bars[start:at])
            self._open(*cast(OpenEvent, items[at]))
            start = at + 1
        self._bars(bars[start:])

    def _mirror(self, symbol: str) -> SymbolMirror:
        mirror = self.mirrors.get(symbol)
        if mirror is None:
            mirror = self.mirrors[symbol] = SymbolMirror(symbol, BarLog(self.config.retain_bars))
        return mirror

    def _open(
        self,
        symbol: str,
        name: str,
        params: Params,
        history: Mapping[str, FloatArray],
        value: IndicatorValue,
    ) -> None:
        ready = self._ready()  # before registering: a re-seed must not open it twice
        mirror = self._mirror(symbol)
        rows = history_rows(history)
        if not self._continues(mirror.log, rows):
            # The first stream, or the log lost the thread: restart it from this history.
            mirror.log = BarLog(self.config.retain_bars)
            mirror.log.extend(rows)
            for old in mirror.streams:
                self._lose(old, "its bars are no longer all known")
        stream = new_stream(name, params, rows, mirror.log.end - len(rows))
        mirror.streams.append(stream)
        mirror.layout = None
        if ready and self._channel is not None:
            try:
                reply = self._exchange([self._open_request(stream, rows)])[0]
                opened = self._opened(stream, reply)
            except BridgeError as exc:
                self._fault(exc)
                return
            self._healthy()
            if opened is not None:
                python = np.array([flatten(value, stream.width)])
                self._compare(mirror, [stream], python, opened[None, :], [mirror.last_timestamp])

    @staticmethod
    def _continues(bar_log: BarLog, rows: FloatArray) -> bool:
        """Whether a new stream's history ends with the log's newest bar."""
        last = bar_log.last()
        if last is None or len(rows) == 0 or len(rows) > bar_log.end - bar_log.first:
            return last is not None and len(rows) == 0
        return bool(np.array_equal(last, rows[-1]))

    def _bars(self, events: Sequence[BarEvent]) -> None:
        if not events:
            return
        symbols = set(map(itemgetter(0), events))
        groups: dict[str, list[BarEvent]] = {}
        if len(symbols) == 1:  # the usual batch: one symbol
            groups[symbols.pop()] = list(events)
        else:
            for event in events:
                groups.setdefault(event[0], []).append(event)
        batch = {s: bar_rows(g) for s, g in groups.items()}
        ready = self._ready()  # before logging: a re-seed must not include these bars
        for symbol, rows in batch.items():
            self._mirror(symbol).log.extend(rows)
        if ready:
            self._push(events, groups, batch)
        else:
            self.stats.unchecked += len(events)
        for symbol, rows in batch.items():
            mirror = self.mirrors[symbol]
            mirror.last_timestamp = groups[symbol][-1][1].timestamp
            top = np.abs(rows).max(axis=0)
            for stream in mirror.streams:
                np.maximum(stream.field_max, top, out=stream.field_max)

    # --- the server's life -------------------------------------------------------

    def _ready(self) -> bool:
        """True when a server is up (after a backoff, starting and re-seeding one)."""
        if self._channel is not None:
            return True
        if self.gave_up is not None:
            return False
        # Wait out the backoff here, off the run's thread: events queue up meanwhile
        # (and are only dropped if the queue fills), so no comparison is skipped.
        time.sleep(max(0.0, self._next_attempt - time.monotonic()))
        try:
            self._channel = Channel(
                self.config.executable, self.config.timeout, self.config.handshake_timeout
            )
        except BridgeError as exc:
            self._fault(exc)
            return False
        if self._started:
            self.stats.restarts += 1
        self._started = True
        return self._reseed()

    def _reseed(self) -> bool:
        """Open every stream again on the new server, from its own first bar."""
        requests, streams = [], []
        for mirror in self.mirrors.values():
            mirror.layout = None
            for stream in mirror.streams:
                if stream.dead is not None:
                    continue
                rows = mirror.log.since(stream.start)
                if rows is None:
                    self._lose(stream, "its first bars were trimmed from the log")
                    continue
                requests.append(self._open_request(stream, rows))
                streams.append(stream)
        try:
            replies = self._exchange(requests) if requests else []
            for stream, reply in zip(streams, replies, strict=True):
                self._opened(stream, reply)
        except BridgeError as exc:
            self._fault(exc)
            return False
        return True

    def _fault(self, exc: Exception) -> None:
        """Count a candidate fault, drop the server, schedule a restart (or give up
        after ``max_faults`` in a row)."""
        self.stats.errors += 1
        if self.stats.first_error is None:
            self.stats.first_error = str(exc)
        self.logger.warn("shadow errors", f"shadow: OCaml candidate error: {exc}")
        self._faults_in_row += 1
        if self._faults_in_row >= self.config.max_faults and self.gave_up is None:
            self.gave_up = f"{self._faults_in_row} OCaml candidate faults in a row"
            log.error("shadow: giving up after %s; last: %s", self.gave_up, exc)
        if self._channel is not None:
            self._channel.kill()
            self._channel = None
        for mirror in self.mirrors.values():
            mirror.layout = None
            for stream in mirror.streams:
                stream.stream_id = None
        self._next_attempt = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2.0, self.config.backoff_max)

    def internal_error(self, exc: Exception) -> None:
        """A bug of shadow mode itself: count it, and re-seed every stream from the
        logs on a fresh server so that a half-handled batch cannot leave them astray."""
        try:
            self._fault(BridgeError(f"shadow mode internal error: {exc!r}"))
        except Exception:  # never let the worker die
            log.exception("shadow: could not recover from an internal error")
            self.gave_up = f"internal error: {exc!r}"

    def _lose(self, stream: MirrorStream, why: str) -> None:
        if stream.dead is None:
            stream.dead = why
            self.stats.lost_streams += 1

    def _exchange(self, frames_ids: Sequence[tuple[bytes, tuple[int, int]]]) -> list[Reply]:
        assert self._channel is not None
        started = time.perf_counter()
        replies = self._channel.exchange([f for f, _ in frames_ids], [e for _, e in frames_ids])
        self._timed(time.perf_counter() - started, len(frames_ids))
        return replies

    def _timed(self, elapsed: float, requests: int) -> None:
        stats = self.stats
        stats.round_trips += 1
        if len(stats.latencies) < 1_000_000:
            stats.latencies.append(elapsed)
            stats.per_request.append(elapsed / max(1, requests))

    def _send_receive(self, out: bytes, count: int) -> memoryview:
        """``Channel.send_receive`` of ``count`` pipelined requests, timed like ``_exchange``."""
        assert self._channel is not None
        started = time.perf_counter()
        data = self._channel.send_receive(out, count)
        self._timed(time.perf_counter() - started, count)
        return data

    def _healthy(self) -> None:
        """A push or open went through: faults are no longer "in a row"."""
        self._faults_in_row = 0
        self._backoff = self.config.backoff_initial

    def _open_request(
        self, stream: MirrorStream, rows: FloatArray
    ) -> tuple[bytes, tuple[int, int]]:
        assert self._channel is not None
        rid = self._channel.next_id()
        return open_frame(stream, rows, rid), (p.Kind.OPEN_STREAM, rid)

    def _opened(self, stream: MirrorStream, reply: Reply) -> FloatArray | None:
        """Record the new stream id; return its values (None if refused).

        Raises BridgeError for a reply that does not parse.
        """
        try:
            return self._decode_opened(stream, reply)
        except p.ProtocolError as exc:
            raise BridgeError(f"OCaml sent a corrupt open-stream reply: {exc}") from exc

    def _decode_opened(self, stream: MirrorStream, reply: Reply) -> FloatArray | None:
        if reply.kind == p.Kind.ERROR:
            error = p.decode_error(reply.body)
            self.stats.errors += 1
            self.logger.warn(
                "shadow errors",
                f"shadow: OCaml refused to open {stream.label}: {error.message}",
            )
            self._lose(stream, f"OCaml refused it: {error.message}")
            return None
        stream_id, values = p.decode_opened(reply.body)
        if len(values) != stream.width:
            raise BridgeError(f"OCaml opened {stream.name} with {len(values)} outputs, "
                              f"expected {stream.width}")
        stream.stream_id = stream_id
        return values

    # --- pushes and comparisons --------------------------------------------------

    def _push(
        self,
        events: Sequence[BarEvent],
        groups: Mapping[str, list[BarEvent]],
        batch: Mapping[str, FloatArray],
    ) -> None:
        """One pipelined exchange: every bar of the batch to its symbol's live streams
        (frames grouped by symbol: the symbols' streams are independent), then checks."""
        channel = self._channel
        assert channel is not None
        segments: list[tuple[str, int, int]] = []  # symbol, first request id, bars
        frames: list[bytes] = []
        for symbol in groups:
            layout = self.mirrors[symbol].live_layout()
            if layout.live:
                first = channel.reserve_ids(len(batch[symbol]))
                frames.append(p.push_frames(first, layout.ids_bytes, batch[symbol]))
                segments.append((symbol, first, len(batch[symbol])))
        try:
            count = sum(n for _, _, n in segments)
            data = self._send_receive(b"".join(frames), count)
            ocaml = self._fixed(data, segments)
            replies = None if ocaml is not None else channel.split(data, [
                (p.Kind.PUSH, int(rid)) for _, first, n in segments
                for rid in p.request_ids(first, n)])
        except BridgeError as exc:
            self._fault(exc)
            self.stats.unchecked += len(events)
            return
        self._healthy()
        if ocaml is None:
            assert replies is not None
            ocaml = self._decode_each(segments, replies)
        for symbol, values in ocaml.items():
            self._check_symbol(self.mirrors[symbol], groups[symbol], values, batch[symbol])

    def _decode_each(
        self, segments: Sequence[tuple[str, int, int]], replies: Sequence[Reply]
    ) -> dict[str, FloatArray]:
        """The slow path of ``_fixed``: decode symbol by symbol, handling refusals and
        faults (a fault takes every stream down, so later symbols have none live)."""
        out: dict[str, FloatArray] = {}
        pos = 0
        for symbol, _, n in segments:
            mirror = self.mirrors[symbol]
            mine, pos = replies[pos : pos + n], pos + n
            if mirror.live_layout().live:
                values = self._decode(mirror, mine)
                if values is not None:
                    out[symbol] = values
        return out

    def _fixed(
        self, data: memoryview, segments: Sequence[tuple[str, int, int]]
    ) -> dict[str, FloatArray] | None:
        """Every symbol's values (bars × output columns) when every reply is a full
        answer of every live stream, in turn (the usual case), checked in bulk; else None."""
        out: dict[str, FloatArray] = {}
        offset = 0
        for symbol, first, n in segments:
            layout = self.mirrors[symbol].live_layout()
            words = p.fixed_replies(data, offset, n, p.Kind.PUSH, first, layout.words)
            if words is None or not (words[:, layout.header_idx] == layout.header_expected).all():
                return None
            out[symbol] = words[:, layout.value_idx].view(np.float64)
            offset += n * (p.FRAME_HEADER_SIZE + 8 * layout.words)
        return out if offset == len(data) else None

    def _check_symbol(
        self,
        mirror: SymbolMirror,
        group: Sequence[BarEvent],
        ocaml: FloatArray,
        rows: FloatArray,
    ) -> None:
        layout = mirror.live_layout()
        rate = self.config.sample
        served = [event[2] for event in group]
        picked: Sequence[int]
        if rate >= 1.0 and None not in served:  # the usual case: compare every bar
            picked = range(len(group))
        else:
            picked = [k for k, values in enumerate(served)
                      if values is not None and (rate >= 1.0 or mirror.sampled(rate))]
            if not picked:
                return
            served = [served[k] for k in picked]
            ocaml = ocaml[picked]
        streams = [mirror.streams[i] for i in layout.live]
        python = python_matrix(served, layout)  # type: ignore[arg-type]  # None filtered
        times = [group[k][1].timestamp for k in picked]
        self._compare(mirror, streams, python, ocaml, times, rows[: picked[-1] + 1], picked)

    def _decode(self, mirror: SymbolMirror, replies: Sequence[Reply]) -> FloatArray | None:
        """The replies' values as (bars × output columns), or None after a fault."""
        layout = mirror.live_layout()
        size = 8 * layout.words
        if all(r.kind == p.Kind.PUSH | 0x80 and len(r.body) == size for r in replies):
            words = np.frombuffer(b"".join(replies_bodies(replies)), dtype="<f8")
            words = words.reshape(len(replies), layout.words)
            headers = words[:, layout.header_idx].view(np.uint64)
            if (headers == layout.header_expected).all():
                return np.ascontiguousarray(words[:, layout.value_idx])
        self._reply_errors(mirror, replies)
        return None

    def _reply_errors(self, mirror: SymbolMirror, replies: Sequence[Reply]) -> None:
        """Find out why replies did not have the expected shape; lose refused streams."""
        layout = mirror.live_layout()
        for reply in replies:
            if reply.kind == p.Kind.ERROR:
                self._fault(BridgeError(f"OCaml refused a bar of {mirror.symbol}: "
                                        f"{p.decode_error(reply.body).message}"))
                return
            try:
                entries = p.decode_push(reply.body)
            except p.ProtocolError as exc:
                self._fault(BridgeError(f"OCaml sent a corrupt push reply: {exc}"))
                return
            for i, entry in zip(layout.live, entries, strict=False):
                if isinstance(entry, p.ServerError):
                    stream = mirror.streams[i]
                    self.stats.errors += 1
                    self.logger.warn("shadow errors", f"shadow: OCaml stream {stream.label}"
                                     f" of {mirror.symbol}: {entry.message}")
                    self._lose(stream, f"OCaml refused a bar: {entry.message}")
            if len(entries) != len(layout.live):
                self._fault(BridgeError(f"OCaml answered a push to {len(layout.live)} streams "
                                        f"with {len(entries)} entries"))
                return
        mirror.layout = None

    def _compare(
        self,
        mirror: SymbolMirror,
        streams: Sequence[MirrorStream],
        python: FloatArray,
        ocaml: FloatArray,
        times: Sequence[int],
        rows: FloatArray | None = None,
        picked: Sequence[int] | None = None,
    ) -> None:
        """Compare (rows × columns) of ``streams``; publish what breaks the contract."""
        columns = [(s, out) for s in streams for out in s.outputs]
        names = [s.name for s, _ in columns]
        self.stats.compared += python.size
        running: list[FloatArray] = []  # computed only if some pair differs

        def scale(row: int, col: int) -> float:
            stream = columns[col][0]
            top = stream.scale()
            if rows is not None and picked is not None:
                if not running:
                    running.append(np.maximum.accumulate(np.abs(rows), axis=0))
                seen = running[0][picked[row]][list(stream.fields)].max()
                top = max(top, float(seen))
            return top

        for diff in differences(python, ocaml, names, scale):
            stream, output = columns[diff.column]
            self._record(mirror, stream, output, times[diff.row], diff)

    def _record(
        self, mirror: SymbolMirror, stream: MirrorStream, output: str, ts: int, diff: Difference
    ) -> None:
        stats, check = self.stats, diff.check
        if check.ok:
            stats.not_identical += 1
            stats.max_scaled_error = max(stats.max_scaled_error, check.scaled_error)
            stats.max_ulp = max(stats.max_ulp, check.ulp)
            return
        stats.mismatches += 1
        python = None if math.isnan(diff.python) else diff.python
        ocaml = None if math.isnan(diff.ocaml) else diff.ocaml
        finite = math.isfinite(check.scaled_error)
        ulp = min(check.ulp, _INT64_MAX) if python is not None and ocaml is not None else None
        if self.journal is not None:
            self.journal.record_mismatch(
                mirror.symbol, ts, stream.name, stream.params, output, python, ocaml,
                check.scaled_error if finite else None, ulp,
            )
        self.logger.warn(
            "shadow mismatches",
            f"shadow MISMATCH {mirror.symbol} @ {ts}: {stream.label}.{output} "
            f"python={python!r} ocaml={ocaml!r} scaled error={check.scaled_error:.3g} "
            f"ULP={ulp}",
        )

    def close(self) -> None:
        """Stop the server (clean end of input)."""
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        self.logger.finish()


def bar_rows(events: Sequence[BarEvent]) -> FloatArray:
    """The bars of ``events`` as an (n, 4) array of high, low, close, volume."""
    fields = chain.from_iterable([(b.high, b.low, b.close, b.volume) for _, b, _ in events])
    return np.fromiter(fields, np.float64, 4 * len(events)).reshape(-1, 4)


def replies_bodies(replies: Sequence[Reply]) -> list[memoryview]:
    """The bodies of ``replies``, for one join."""
    return [r.body for r in replies]
