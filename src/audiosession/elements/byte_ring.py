"""The bytes of an HTTP body between the download thread and the decoder thread.

``ByteRing`` holds a window of the body in a ring of fixed size (and its first ``HEAD_BYTES``
apart: decoders read headers again when they seek), together with the download's state; the
writer waits when the ring is full, which stops it reading the socket (TCP back-pressure).
``RingFile`` is the ring as a seekable binary file for the decoder: its reads wait for the
bytes, and a read outside the ring asks the download to start again there (a range request).
No network and no decoding here: both are the callers' (``elements/network.py``,
``elements/http_download.py``).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["FAR_AHEAD_BYTES", "HEAD_BYTES", "PEEK_BYTES", "ByteRing", "RingFile"]

HEAD_BYTES = 256 << 10
"""The start of the body is kept apart: decoders read headers again when they seek."""

PEEK_BYTES = 64 << 10
"""While opening, a read past the downloaded bytes by this much, or this near the end, is a
peek (libsndfile looks for a tag at the end): it gets zeros rather than a wait."""

FAR_AHEAD_BYTES = 1 << 20
"""A read this far past the downloaded bytes is a jump (a seek), not the next bytes."""


class ByteRing:
    """The body's bytes the decoder may still need, with the download's state.

    Bytes ``[low, high)`` of the body are in a ring of ``capacity`` bytes; the first
    ``HEAD_BYTES`` are also kept apart. The writer never drops bytes at or after ``reader``
    (where the decoder reads), nor the quarter of the ring just behind it, so it waits when
    the ring is full.
    All fields are guarded by ``cond``.
    """

    def __init__(self, capacity: int) -> None:
        self.cond = threading.Condition()
        self.capacity = capacity
        self.data = bytearray()
        self.head = bytearray()
        self.low = 0
        self.high = 0
        self.reader = 0
        self.length: int | None = None
        self.live = False  # the first response did not say the body's length
        self.ranges = False
        self.done = False
        self.error: tuple[int, str] | None = None
        self.closed = False
        self.restart_at: int | None = None
        self.interrupt = False
        self.fetching = False
        self.last_data = time.monotonic()
        self.socket: socket.socket | None = None

    def abort_fetch(self) -> None:
        """Wake the download thread out of a blocking read (a seek or close during a stall)."""
        if self.socket is not None:
            try:
                self.socket.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def reset(self, offset: int) -> None:
        """The download starts again at ``offset``: the ring is emptied (the head stays)."""
        self.low = self.high = offset
        self.done = False

    def write(self, chunk: bytes, offset: int) -> bool:
        """Append ``chunk`` (which starts at ``offset`` == ``high``); False = stop reading."""
        view = memoryview(chunk)
        while len(view):
            with self.cond:
                if offset < HEAD_BYTES:
                    head_part = view[: HEAD_BYTES - offset]
                    if len(self.head) == offset:
                        self.head += head_part
                while True:
                    if self.closed or self.error is not None or self.restart_at is not None:
                        return False
                    # Keep a quarter of the ring behind the decoder: short seeks back work
                    # without a new request.
                    kept = min(self.capacity // 4, self.reader)
                    room = self.reader - kept + self.capacity - self.high
                    if room > 0 or self.reader > self.high:
                        break
                    self.fetching = False
                    self.cond.wait(0.25)
                self.fetching = True
                if self.reader > self.high:  # the decoder is ahead: nothing before it is kept
                    room = self.capacity
                n = min(len(view), room, self.capacity)
                self._put(view[:n])
                view = view[n:]
                offset += n
                self.last_data = time.monotonic()
                self.cond.notify_all()
        return True

    def _put(self, part: memoryview) -> None:
        if not self.data:
            self.data = bytearray(self.capacity)
        start = self.high % self.capacity
        first = min(len(part), self.capacity - start)
        self.data[start : start + first] = part[:first]
        self.data[: len(part) - first] = part[first:]
        self.high += len(part)
        self.low = max(self.low, self.high - self.capacity)

    def has(self, pos: int, n: int) -> bool:
        """Whether the ``n`` bytes at ``pos`` are in the ring."""
        return self.low <= pos and pos + n <= self.high

    def get(self, pos: int, n: int) -> bytes:
        """The ``n`` bytes at ``pos`` (``has(pos, n)`` first)."""
        start = pos % self.capacity
        first = min(n, self.capacity - start)
        return bytes(self.data[start : start + first]) + bytes(self.data[: n - first])


class RingFile:
    """The body as a seekable binary file for the decoder thread: reads wait for the bytes.

    A read returns fewer bytes than asked only at the end of the body, when the source is
    closed, when a seek interrupts a read that waits for bytes (``interrupted``), or when the
    bytes cannot be had (``unreachable``: behind the ring on a server without ranges).
    """

    def __init__(self, ring: ByteRing, url: str) -> None:
        self.ring = ring
        self.name = url
        self.pos = 0
        self.opening = True
        self.unreachable: str | None = None
        self.interrupted = False
        self.on_wait: Callable[[], None] = lambda: None

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 0:
            self.pos = offset
        elif whence == 1:
            self.pos += offset
        else:
            self.pos = self._length() + offset
        self.pos = max(0, self.pos)
        return self.pos

    def _length(self) -> int:
        with self.ring.cond:
            if self.ring.length is not None:
                return self.ring.length
            # A live stream: its end is unknown; libsndfile must not stop early.
            return 1 << 62

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = 1 << 20
        piece = max(1, self.ring.capacity // 4)
        if n > piece:  # more than the ring can hold at once: in pieces
            parts = []
            while n > 0:
                part = self._read(min(n, piece))
                parts.append(part)
                n -= len(part)
                if len(part) < min(n + len(part), piece):
                    break
            return b"".join(parts)
        return self._read(n)

    def _read(self, n: int) -> bytes:
        ring = self.ring
        with ring.cond:
            if ring.length is not None:
                n = max(0, min(n, ring.length - self.pos))
            if n == 0:
                return b""
            while True:
                if ring.closed or ring.error is not None:
                    return b""
                pos = self.pos
                if pos + n <= len(ring.head):
                    data = bytes(ring.head[pos : pos + n])
                    break
                if ring.has(pos, n):
                    data = ring.get(pos, n)
                    break
                if ring.done and ring.low <= pos <= ring.high:
                    data = ring.get(pos, ring.high - pos)  # the last bytes of the body
                    break
                if self.opening and self._peek(pos):
                    # libsndfile peeks at the end (an ID3v1 tag) while opening: zeros say
                    # "no tag" (a short read would fail the open) without waiting for the end.
                    self.pos += n
                    return bytes(n)
                if ring.interrupt:
                    # A seek while waiting for bytes: give up this read (the decoder then
                    # opens the body afresh, as a decoder that saw an early end is unsure).
                    self.interrupted = True
                    return b""
                if pos < ring.low or pos > ring.high + FAR_AHEAD_BYTES:
                    if ring.ranges:
                        if ring.restart_at is None and not (ring.low <= pos <= ring.high):
                            ring.restart_at = pos
                            ring.abort_fetch()
                            ring.cond.notify_all()
                    elif pos < ring.low:
                        self.unreachable = (
                            f"byte {pos} is no longer buffered and the server does not "
                            "support range requests"
                        )
                        return b""
                ring.reader = pos
                ring.cond.notify_all()
                self.on_wait()
                ring.cond.wait(0.25)
            self.pos += len(data)
            ring.reader = self.pos
            ring.cond.notify_all()
            return data

    def _peek(self, pos: int) -> bool:
        """Whether a read at ``pos`` while opening is a look far ahead or at the end."""
        ring = self.ring
        if pos <= ring.high:
            return False
        near_end = ring.length is not None and pos >= ring.length - PEEK_BYTES
        return near_end or pos > ring.high + PEEK_BYTES

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
