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
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bridge import protocol as p
from bridge.transport import ServerProcess, locate_executable
from engine.errors import BridgeError

_READ_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Reply:
    """One reply frame: its kind and body (a view into the exchange's buffer)."""

    kind: int
    body: memoryview


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
        try:
            return p.decode_handshake(reply.kind, reply.body)
        except p.ProtocolError as exc:
            raise BridgeError(f"OCaml indicator server {exc}") from exc

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
            length, got_kind, got_id = p.parse_frame_header(data, pos)
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
        try:
            p.check_frame_length(length)
        except p.ProtocolError as exc:
            raise BridgeError(f"OCaml indicator server sent a corrupt reply: {exc}") from None
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
