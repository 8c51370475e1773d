"""One running OCaml indicator server and framed round trips to it.

The pipes are non-blocking and every wait goes through ``poll`` with a deadline,
so a hung server (or one that stops reading) costs at most the timeout. Requests
go out with one ``writev`` of the caller's buffers (arrays are not copied) and
replies are read with ``readinto`` into a reusable buffer, or, for large replies,
into a fresh one that the decoded arrays then view without a copy.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import select
import struct
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import numpy as np

from bridge.protocol import (
    FRAME_HEADER_SIZE,
    ProtocolError,
    check_frame_length,
    parse_frame_header,
)
from engine.errors import BridgeError

ENV_VAR = "TANDEM_OCAML_BIN"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_EXECUTABLE = REPO_ROOT / "_build" / "default" / "ocaml" / "bin" / "tandem_ocaml.exe"
_SMALL = 1 << 16
_LENGTH = struct.Struct("<I")  # a frame's length prefix
_PIPE_SIZE = 1 << 20  # the default /proc/sys/fs/pipe-max-size


def locate_executable(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The server executable: ``explicit``, else $TANDEM_OCAML_BIN, else the dune output.

    Raises BridgeError naming both places (and how to build) when it is missing.
    """
    env = os.environ.get(ENV_VAR)
    chosen = Path(explicit) if explicit is not None else Path(env) if env else DEFAULT_EXECUTABLE
    if chosen.is_file() and os.access(chosen, os.X_OK):
        return chosen
    env_text = f"{ENV_VAR}={env!r}" if env else f"{ENV_VAR} (not set)"
    extra = f"the given path {chosen}, " if explicit is not None else ""
    raise BridgeError(
        f"OCaml indicator server not found or not executable: looked at {extra}{env_text} "
        f"and the dune build output {DEFAULT_EXECUTABLE}. Run `make` (or `dune build`) in "
        f"{REPO_ROOT}, or set {ENV_VAR} to the tandem_ocaml executable."
    )


def set_pipe_size(fd: int) -> None:
    """Enlarge a pipe (Linux) so big requests need fewer wake-ups; best effort."""
    with contextlib.suppress(AttributeError, OSError):
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)


class ServerProcess:
    """A started server process with non-blocking pipes; not thread-safe by itself."""

    def __init__(self, executable: Path) -> None:
        self.executable = executable
        # Lives as long as the process; read back to explain a crash.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        try:
            self.proc = subprocess.Popen(
                [str(executable)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                bufsize=0,
                close_fds=True,
                # Its own session: a Ctrl-C meant for the engine does not kill it.
                # It still ends with us: our exit closes its stdin.
                start_new_session=True,
            )
        except OSError as exc:
            self._stderr.close()
            raise BridgeError(
                f"cannot start the OCaml indicator server {executable}: {exc}"
            ) from exc
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._out = self.proc.stdin.fileno()
        self._in = cast(io.RawIOBase, self.proc.stdout)  # unbuffered: bufsize=0
        for fd in (self._out, self._in.fileno()):
            os.set_blocking(fd, False)
            set_pipe_size(fd)
        self._readable = select.poll()
        self._readable.register(self._in.fileno(), select.POLLIN)
        self._writable = select.poll()
        self._writable.register(self._out, select.POLLOUT)
        self._buf = bytearray(_SMALL)
        self._view = memoryview(self._buf)

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.proc.pid

    def round_trip(
        self, parts: Sequence[bytes | memoryview], timeout: float
    ) -> tuple[int, int, memoryview]:
        """Sends one request frame and reads the reply frame.

        Returns (kind, request id, body); the body is a fresh writable buffer that
        decoded arrays may view. Raises BridgeError when the server dies, hangs
        past ``timeout`` or sends an unparseable frame.
        """
        deadline = time.monotonic() + timeout
        try:
            # The usual small request and reply, inline: one writev, one read that gets
            # the whole reply, one header parse. Python calls, not system calls, are
            # what a 200-point request costs here (the bridge's client instructions per
            # request fell from 111k to 58k with this and the client's fast path,
            # callgrind; see bench/bridge.py).
            try:
                written = os.writev(self._out, parts)
            except BlockingIOError:
                written = 0
            if written != 4 + _LENGTH.unpack_from(parts[0])[0]:
                self._send_rest(parts, written, deadline, timeout)
            # poll first: a read straight after the write finds nothing (the server has
            # not run yet) and costs a system call that fails with EAGAIN (bench/bridge.py,
            # strace: 4.1 → 3.0 client I/O calls per 200-point request)
            self._wait(self._readable, deadline, timeout, "waiting for the reply")
            got = self._in.readinto(self._view)
            if got is not None and got >= FRAME_HEADER_SIZE:
                length, kind, request_id = parse_frame_header(self._buf)
                if got == 4 + length:
                    return kind, request_id, memoryview(self._buf[FRAME_HEADER_SIZE:got])
            return self._receive(got, deadline, timeout)
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise BridgeError(self.death_message("while receiving a request")) from exc
        except ProtocolError as exc:
            raise BridgeError(f"OCaml indicator server sent a corrupt reply: {exc}") from exc

    def _wait(self, poller: select.poll, deadline: float, timeout: float, what: str) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not poller.poll(remaining * 1000.0):
            raise BridgeError(
                f"OCaml indicator server (pid {self.pid}) did not answer within {timeout:g} s "
                f"({what}); it is considered hung and will be restarted"
            )

    def _send_rest(
        self, parts: Sequence[bytes | memoryview], written: int, deadline: float, timeout: float
    ) -> None:
        """Sends what the first writev left (the pipe was full), without copying, as the
        server drains it."""
        views = (memoryview(part).cast("B") for part in parts)
        pending = [view for view in views if view.nbytes]
        while pending:
            while written and written >= len(pending[0]):
                written -= len(pending.pop(0))
            if written:
                pending[0] = pending[0][written:]
                written = 0
            if not pending:
                return
            self._wait(self._writable, deadline, timeout, "sending a request")
            try:
                written = os.writev(self._out, pending)
            except BlockingIOError:
                written = 0

    def _read_into(self, view: memoryview, deadline: float, timeout: float) -> int:
        """Reads at least one byte into ``view``; raises BridgeError at end of input."""
        while True:
            got = self._in.readinto(view)
            if got is None:
                self._wait(self._readable, deadline, timeout, "waiting for the reply")
                continue
            if got == 0:
                raise BridgeError(self.death_message("before replying"))
            return got

    def _receive(
        self, first: int | None, deadline: float, timeout: float
    ) -> tuple[int, int, memoryview]:
        """The reply frame, after a first read into the buffer that returned ``first``
        (None: nothing was there yet) and did not hold the whole frame."""
        if first == 0:
            raise BridgeError(self.death_message("before replying"))
        got = first or 0
        while got < 4:
            got += self._read_into(self._view[got:], deadline, timeout)
        check_frame_length(int.from_bytes(self._buf[:4], "little"))  # before waiting for more
        while got < FRAME_HEADER_SIZE:
            got += self._read_into(self._view[got:], deadline, timeout)
        length, kind, request_id = parse_frame_header(self._view)
        total = 4 + length
        if got > total:
            # One request is in flight at a time, so a server in step never sends more
            # than its reply.
            raise ProtocolError(f"{got - total} bytes followed the {total}-byte reply")
        if total <= len(self._buf):
            while got < total:
                got += self._read_into(self._view[got:total], deadline, timeout)
            return kind, request_id, memoryview(self._buf[FRAME_HEADER_SIZE:total])
        view = np.empty(total, np.uint8).data
        view[:got] = self._view[:got]
        while got < total:
            got += self._read_into(view[got:], deadline, timeout)
        return kind, request_id, view[FRAME_HEADER_SIZE:]

    def stderr_tail(self, limit: int = 2000) -> str:
        """The last bytes the server wrote to stderr."""
        try:
            self._stderr.seek(0, os.SEEK_END)
            size = self._stderr.tell()
            self._stderr.seek(max(0, size - limit))
            return self._stderr.read().decode(errors="replace").strip()
        except (OSError, ValueError):
            return ""

    def death_message(self, when: str) -> str:
        """Describes a server that stopped talking: its exit status and stderr."""
        try:
            code: int | None = self.proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            code = None
        status = "is not responding" if code is None else f"exited with status {code}"
        tail = self.stderr_tail()
        detail = f"; its stderr: {tail}" if tail else ""
        return f"OCaml indicator server (pid {self.pid}) {status} {when}{detail}"

    def kill(self) -> None:
        """Stops the process at once and releases its pipes."""
        with contextlib.suppress(OSError):
            self.proc.kill()
        self._reap()

    def close(self, grace: float = 2.0) -> None:
        """Ends the server by closing its input (a clean exit), killing it after ``grace``."""
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._reap()

    def _reap(self) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5.0)
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError, ValueError):
                if stream is not None:
                    stream.close()
        self._stderr.close()
