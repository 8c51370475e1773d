"""A misbehaving OCaml candidate for the shadow-mode tests.

It speaks the indicator protocol by standing in front of the real server
(``$TANDEM_PROXY_TARGET``): every request frame is forwarded, every reply
passed back, except that after ``$TANDEM_PROXY_AFTER`` request frames it
misbehaves according to ``$TANDEM_PROXY_MODE``:

* ``lie``     — flips bit 30 of the first value of one PUSH reply (far outside
                the agreement contract), then tells the truth again;
* ``lie_low`` — flips bit 0 of that value (1 ULP: inside the contract);
* ``die``     — exits with status 1 (its server sees end of input and exits);
* ``hang``    — keeps reading requests but never answers again;
* ``corrupt`` — answers with a frame whose length field is impossible;
* ``refuse``  — turns the next OPEN_STREAM reply into an error reply;
* ``kill_client`` — kills its client (shadow mode's process, which started it:
                its parent) with SIGKILL;
* ``lie_fill`` — flips bit 30 of the first fill price of one BOOK_BAR or
                BOOK_BARS reply (docs/protocol.md, "Books"): a trade the book
                did not make.

With ``$TANDEM_PROXY_AFFINITY`` naming a file, each proxy appends the CPUs it may
run on (inherited from its client) as a line.

A process serving books (its client sends BOOK_* requests: shadow mode's trade
check) misbehaves only in ``lie_fill`` mode, so the other modes keep testing
the indicator candidate alone. With ``$TANDEM_PROXY_ONCE`` naming a file, the
fault happens only in the first process that reaches it (it creates the file), so
a restarted candidate is honest. Each lie appends the original and the perturbed value as hex to the
file ``$TANDEM_PROXY_LOG`` if set.
"""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys

PUSH_REPLY = 0x84
OPEN_REPLY = 0x83
BOOK_BAR_REPLY = 0x87
BOOK_BARS_REPLY = 0x89
BOOK_KINDS = (0x06, 0x07, 0x08, 0x09)
HEAD = 96  # a book reply head
#: offset of the first fill's price in a BOOK_BAR reply frame: the 12-byte frame
#: start, the 96-byte reply head, the fill's 8-byte codes
FILL_PRICE = 12 + 96 + 8


def read_exact(stream: object, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))  # type: ignore[attr-defined]
        if not chunk:
            return data
        data += chunk
    return data


def read_frame(stream: object) -> bytes:
    head = read_exact(stream, 4)
    if len(head) < 4:
        return b""
    return head + read_exact(stream, int.from_bytes(head, "little"))


def first_fault() -> bool:
    once = os.environ.get("TANDEM_PROXY_ONCE")
    if not once:
        return True
    try:
        fd = os.open(once, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def lie(reply: bytes, bit: int) -> bytes | None:
    """The reply with one bit of its first value flipped (None if it has no value)."""
    # frame: u32 length, u8 kind, 3 zero, u32 id | body: u32 count, u32 0 | entry:
    # u8 status, u8 n_out, u16 0, u32 1 | f64 value
    if len(reply) < 36 or reply[4] != PUSH_REPLY or reply[20] != 0:
        return None
    (bits,) = struct.unpack_from("<Q", reply, 28)
    if (bits >> 52) & 0x7FF == 0x7FF:  # NaN: the stream is still warming up
        return None
    changed = bytearray(reply)
    struct.pack_into("<Q", changed, 28, bits ^ (1 << bit))
    path = os.environ.get("TANDEM_PROXY_LOG")
    if path:
        with open(path, "a") as out:
            out.write(f"{bits:016x} {bits ^ (1 << bit):016x}\n")
    return bytes(changed)


def first_fill_price(reply: bytes) -> int | None:
    """Offset of the first fill's price in a BOOK_BAR or BOOK_BARS reply frame."""
    if reply[4] == BOOK_BAR_REPLY:
        return FILL_PRICE if len(reply) >= FILL_PRICE + 8 and reply[12 + 3] else None
    if reply[4] != BOOK_BARS_REPLY:
        return None
    count = int.from_bytes(reply[12:16], "little")
    tail = 20 + count * HEAD  # the tails follow every head, in bar order
    for k in range(count):
        head = 20 + k * HEAD
        problem, n_fills, refused = reply[head], reply[head + 3], reply[head + 4]
        if n_fills:
            return tail + 8
        for code in (problem, refused):
            if code:
                size = reply[tail] + int.from_bytes(reply[tail + 4 : tail + 8], "little")
                tail += 8 + size + (-size) % 8
    return None


def lie_about_fill(reply: bytes) -> bytes | None:
    """The reply with one bit of its first fill price flipped (None if it has no fill)."""
    at = first_fill_price(reply)
    if at is None:
        return None
    (bits,) = struct.unpack_from("<Q", reply, at)
    changed = bytearray(reply)
    struct.pack_into("<Q", changed, at, bits ^ (1 << 30))
    path = os.environ.get("TANDEM_PROXY_LOG")
    if path:
        with open(path, "a") as out:
            out.write(f"{bits:016x} {bits ^ (1 << 30):016x}\n")
    return bytes(changed)


def refusal(reply: bytes) -> bytes | None:
    """An error reply (invalid_argument) in place of an OPEN_STREAM reply."""
    if len(reply) < 12 or reply[4] != OPEN_REPLY:
        return None
    message = b"refused by the test double"
    body = struct.pack("<HHI", 3, 0, len(message)) + message
    request_id = int.from_bytes(reply[8:12], "little")
    return struct.pack("<IBBHI", 8 + len(body), 0xFF, 0, 0, request_id) + body


def main() -> int:
    affinity_log = os.environ.get("TANDEM_PROXY_AFFINITY")
    if affinity_log:  # the CPUs it may run on (inherited from its client)
        with open(affinity_log, "a") as log:
            log.write(" ".join(map(str, sorted(os.sched_getaffinity(0)))) + "\n")
    mode = os.environ.get("TANDEM_PROXY_MODE", "pass")
    after = int(os.environ.get("TANDEM_PROXY_AFTER", "0"))
    server = subprocess.Popen([os.environ["TANDEM_PROXY_TARGET"]],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert server.stdin is not None and server.stdout is not None
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    seen, faulty = 0, mode != "pass"
    while True:
        request = read_frame(stdin)
        if not request:
            break
        seen += 1
        if request[4] in BOOK_KINDS and mode != "lie_fill":
            faulty = False  # a book server: only lie_fill is about it
        if faulty and seen > after and mode == "kill_client" and first_fault():
            os.kill(os.getppid(), signal.SIGKILL)  # the shadow process that started us
        if faulty and seen > after and mode in ("die", "hang"):
            faulty = first_fault()
            if faulty and mode == "die":
                os._exit(1)
            if faulty:  # hang: read until the client gives up on us
                while read_frame(stdin):
                    pass
                break
        server.stdin.write(request)
        server.stdin.flush()
        reply = read_frame(server.stdout)
        if faulty and seen > after and mode == "corrupt" and first_fault():
            stdout.write(struct.pack("<IBBHI", 3, 0x84, 0, 0, 0))
            stdout.flush()
            faulty = False
            continue
        if faulty and seen > after and mode == "refuse":
            changed = refusal(reply)
            if changed is not None:
                faulty = False
                if first_fault():
                    reply = changed
        if faulty and seen > after and mode == "lie_fill":
            changed = lie_about_fill(reply)
            if changed is not None:
                faulty = False
                if first_fault():
                    reply = changed
        if faulty and seen > after and mode in ("lie", "lie_low"):
            changed = lie(reply, 30 if mode == "lie" else 0)
            if changed is not None:
                faulty = False
                if first_fault():
                    reply = changed
        stdout.write(reply)
        stdout.flush()
    server.stdin.close()
    server.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
