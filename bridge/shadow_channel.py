"""A pipelined connection to the OCaml indicator server, for shadow mode.

``bridge.OcamlIndicators`` makes one round trip per call; shadow mode instead
sends many requests (one PUSH per bar) in one write and then reads all the
replies, which the server sends strictly in order (docs/protocol.md). That
turns a per-bar context switch into a per-batch one. Every wait has a deadline,
so a hung server costs at most ``timeout``; any fault raises ``BridgeError``
and the caller discards the channel.
"""

from __future__ import annotations

import os
import select
import struct
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bridge import protocol as p
from bridge.transport import ServerProcess, locate_executable
from engine.errors import BridgeError

_READ_CHUNK = 1 << 20
_HEADER = struct.Struct("<IBBHI")  # payload length, kind, 0, 0, request id
#: The start of a PUSH frame: header, count, 0, then the bar (docs/protocol.md).
_PUSH_HEAD = struct.Struct("<IBBHIIIdddd")


@dataclass(frozen=True, slots=True)
class Reply:
    """One reply frame: its kind and body (a view into the exchange's buffer)."""

    kind: int
    body: memoryview


def push_frame(request_id: int, ids_bytes: bytes, count: int, bar: Sequence[float]) -> bytes:
    """A PUSH request of one bar to ``count`` streams whose u32 ids are ``ids_bytes``.

    Byte-identical to ``protocol.encode_push`` (tested), but with the id list
    packed once per stream set instead of once per bar.
    """
    size = 8 + 8 + 32 + len(ids_bytes)
    h, lo, c, v = bar
    return _PUSH_HEAD.pack(size, p.Kind.PUSH, 0, 0, request_id, count, 0, h, lo, c, v) + ids_bytes


def _push_dtype(count: int) -> np.dtype[np.void]:
    """One PUSH frame to ``count`` streams as a packed record (docs/protocol.md)."""
    return np.dtype([("length", "<u4"), ("kind", "u1"), ("zero", "u1"), ("zero2", "<u2"),
                     ("id", "<u4"), ("count", "<u4"), ("zero3", "<u4"), ("bar", "<f8", (4,)),
                     ("ids", "<u4", (count,))])


def push_frames(first_id: int, ids_bytes: bytes, rows: npt.NDArray[np.float64]) -> bytes:
    """PUSH requests of every bar of ``rows`` (n × high, low, close, volume) to the
    streams whose u32 ids are ``ids_bytes``, with request ids ``first_id`` + 0, 1, ….

    Byte-identical to one ``push_frame`` per bar (tested), built as one numpy
    record array instead of bar by bar.
    """
    ids = np.frombuffer(ids_bytes, dtype="<u4")
    frames = np.zeros(len(rows), dtype=_push_dtype(ids.size))
    frames["length"] = 8 + 8 + 32 + len(ids_bytes)
    frames["kind"] = p.Kind.PUSH
    frames["id"] = request_ids(first_id, len(rows))
    frames["count"] = ids.size
    frames["bar"] = rows
    frames["ids"] = ids
    return frames.tobytes()


def request_ids(first_id: int, count: int) -> npt.NDArray[np.uint32]:
    """``count`` consecutive request ids from ``first_id``, wrapping like ``next_id``."""
    ids = (np.arange(count, dtype=np.uint64) + np.uint64(first_id)) & np.uint64(0xFFFFFFFF)
    return ids.astype(np.uint32)


def fixed_replies(
    data: memoryview, offset: int, count: int, kind: int, first_id: int, words: int
) -> npt.NDArray[np.uint64] | None:
    """The bodies of ``count`` replies at ``offset`` as (count × ``words``) u64 words, if
    each is exactly a ``kind | 0x80`` reply of ``8 * words`` body bytes echoing request
    ids ``first_id`` + 0, 1, …; else None (the caller splits the replies one by one).
    """
    dtype = np.dtype([("length", "<u4"), ("kind", "u1"), ("zero", "u1"), ("zero2", "<u2"),
                      ("id", "<u4"), ("body", "<u8", (words,))])
    if len(data) - offset < count * dtype.itemsize:
        return None
    frames = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
    good = ((frames["length"] == p.PAYLOAD_HEADER_SIZE + 8 * words).all()
            and (frames["kind"] == kind | 0x80).all()
            and (frames["id"] == request_ids(first_id, count)).all())
    return frames["body"] if good else None


class Channel:
    """One server process, spoken to in pipelined batches. Not thread-safe."""

    def __init__(
        self, executable: str | os.PathLike[str] | None, timeout: float, handshake_timeout: float
    ) -> None:
        self._server = ServerProcess(locate_executable(executable))
        self.timeout = timeout
        self._request_id = 0
        self._wfd = self._fileno("stdin")
        self._rfd = self._fileno("stdout")
        self.catalog = self._hello(handshake_timeout)

    def _fileno(self, which: str) -> int:
        stream = getattr(self._server.proc, which)
        assert stream is not None
        return int(stream.fileno())

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self._server.pid

    def next_id(self) -> int:
        """A fresh request id."""
        self._request_id = (self._request_id + 1) & 0xFFFFFFFF
        return self._request_id

    def reserve_ids(self, count: int) -> int:
        """The first of ``count`` consecutive fresh request ids (see ``request_ids``)."""
        first = (self._request_id + 1) & 0xFFFFFFFF
        self._request_id = (self._request_id + count) & 0xFFFFFFFF
        return first

    def _hello(self, timeout: float) -> Mapping[str, p.IndicatorInfo]:
        rid = self.next_id()
        (reply,) = self.exchange([b"".join(p.encode_hello(rid))], [(p.Kind.HELLO, rid)], timeout)
        if reply.kind != p.Kind.HELLO | 0x80:
            raise BridgeError(f"OCaml indicator server refused the handshake: "
                              f"{p.decode_error(reply.body).message}")
        try:
            version, catalog = p.decode_hello(reply.body)
        except (p.ProtocolError, UnicodeDecodeError) as exc:
            raise BridgeError(f"OCaml indicator server sent a corrupt catalog: {exc}") from exc
        if version != p.VERSION:
            raise BridgeError(f"OCaml indicator server speaks protocol {version}, "
                              f"shadow mode speaks {p.VERSION}")
        return catalog

    def exchange(
        self,
        frames: Sequence[bytes],
        expect: Sequence[tuple[int, int]],
        timeout: float | None = None,
    ) -> list[Reply]:
        """Send ``frames`` in one go, then read one reply per frame, in order.

        ``expect`` holds (request kind, request id) per frame; a reply must echo
        the id and carry ``kind | 0x80`` or ERROR (an ERROR reply is returned,
        the caller decodes it). Raises BridgeError on death, hang or corruption.
        """
        data = self.send_receive(b"".join(frames), len(frames), timeout)
        return self.split(data, expect)

    def send_receive(self, out: bytes, count: int, timeout: float | None = None) -> memoryview:
        """Send the request bytes ``out`` (``count`` frames), return the bytes of
        ``count`` reply frames, unchecked but for their lengths (see ``split``).

        Raises BridgeError on death, hang or a corrupt frame length.
        """
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        return self._pump(memoryview(out), count, deadline, limit)

    def _pump(self, out: memoryview, count: int, deadline: float, limit: float) -> memoryview:
        """Write ``out`` while reading replies (so neither pipe can fill up and
        deadlock); return the bytes of ``count`` complete reply frames."""
        buf = bytearray()
        frames_done, scan = 0, 0
        poller = select.poll()
        poller.register(self._rfd, select.POLLIN)
        if out:
            poller.register(self._wfd, select.POLLOUT)
        while frames_done < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not poller.poll(remaining * 1000.0):
                raise BridgeError(f"OCaml indicator server (pid {self.pid}) did not answer "
                                  f"within {limit:g} s; it is considered hung")
            if out:
                out = self._write_some(out)
                if not out:
                    poller.unregister(self._wfd)
            chunk = self._read_some()
            if chunk:
                buf += chunk
                frames_done, scan = _count_frames(buf, frames_done, scan)
        if scan != len(buf):
            raise BridgeError("OCaml indicator server sent more replies than requests")
        return memoryview(buf)

    def _write_some(self, out: memoryview) -> memoryview:
        try:
            return out[os.write(self._wfd, out):]
        except BlockingIOError:
            return out
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise BridgeError(self._server.death_message("while receiving requests")) from exc

    def _read_some(self) -> bytes:
        try:
            chunk = os.read(self._rfd, _READ_CHUNK)
        except BlockingIOError:
            return b""
        if not chunk:
            raise BridgeError(self._server.death_message("before replying"))
        return chunk

    def split(self, data: memoryview, expect: Sequence[tuple[int, int]]) -> list[Reply]:
        """The replies in ``data`` (from ``send_receive``), one per (request kind,
        request id) of ``expect``. Raises BridgeError for a reply out of turn."""
        replies: list[Reply] = []
        pos = 0
        for kind, rid in expect:
            length, got_kind, _, _, got_id = _HEADER.unpack_from(data, pos)
            if got_id != rid or got_kind not in (kind | 0x80, p.Kind.ERROR):
                raise BridgeError(f"OCaml indicator server replied out of turn (kind "
                                  f"0x{got_kind:02x}, id {got_id}; expected id {rid})")
            replies.append(Reply(got_kind, data[pos + p.FRAME_HEADER_SIZE : pos + 4 + length]))
            pos += 4 + length
        return replies

    def kill(self) -> None:
        """Stop the server at once."""
        self._server.kill()

    def close(self) -> None:
        """End the server cleanly (end of input), killing it if it lingers."""
        self._server.close(grace=1.0)


def _count_frames(buf: bytearray, done: int, scan: int) -> tuple[int, int]:
    """Advance over the complete frames in ``buf`` from offset ``scan``.

    Replies mostly come in runs of one size, so after each frame the following
    complete frames are checked in one numpy step for the same length prefix
    and skipped together; the result is that of reading them one by one.
    """
    while len(buf) - scan >= p.FRAME_HEADER_SIZE:
        length = int.from_bytes(buf[scan : scan + 4], "little")
        if not p.PAYLOAD_HEADER_SIZE <= length <= p.MAX_PAYLOAD:
            raise BridgeError(f"OCaml indicator server sent a corrupt reply: frame length "
                              f"{length} outside [8, {p.MAX_PAYLOAD}]")
        size = 4 + length
        whole = (len(buf) - scan) // size  # frames of this size that would fit
        if whole == 0:
            break
        run = _run_of(buf, scan, size, whole) if whole > 1 else 1
        scan += run * size
        done += run
    return done, scan



def _run_of(buf: bytearray, scan: int, size: int, whole: int) -> int:
    """How many of the ``whole`` frames from ``scan`` have the length ``size`` (≥ 1)."""
    # The view must not outlive this call: ``buf`` cannot grow while it is exported.
    prefixes = np.ndarray((whole,), dtype="<u4", buffer=buf, offset=scan, strides=(size,))
    same = prefixes == size - 4
    return whole if bool(same.all()) else int(np.argmin(same))
