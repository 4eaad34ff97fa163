"""Media from ``http:`` and ``https:`` URLs: progressive download, decoding ahead, range seeks.

Three threads share the work, and only the last is the audio thread:

- the *download* thread fetches the body with ``httpx`` (TLS verification on) into a bounded
  ring of bytes (``BUFFER_BYTES``); when the ring is full it stops reading the socket (TCP
  back-pressure), and it re-requests with ``Range`` when the decoder jumps outside the ring
  (a seek) or when the connection is cut and the server supports ranges;
- the *decoder* thread reads that ring through a blocking file object, decodes with the
  engine's ``AudioReader`` (libsndfile + soxr) and keeps up to ``DECODE_AHEAD`` seconds of
  PCM ready;
- the audio thread's ``read`` only takes PCM that is ready. When there is none it returns
  silence (never the last block again) and reports ``waiting``; when PCM is back it reports
  ``playing``.

Memory stays bounded whatever the length of the stream: the byte ring, the first
``HEAD_BYTES`` of the body (headers are read again after seeks) and the PCM queue.

The element hears of the source through ``start_loading(listener)``: ``listener(kind, *args)``
is called from these threads (the element queues a task for each), with kinds ``progress``,
``loadedmetadata``, ``canplay``, ``stalled``, ``waiting``, ``playing`` and
``error`` (``code``, ``message``).
"""

from __future__ import annotations

import collections
import logging
import math
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

try:
    import httpx
except ModuleNotFoundError as error:  # in the default install; a trimmed one may lack it
    from audiosession.dependencies import missing_dependency

    raise missing_dependency(
        error, "httpx", needed_for="playing http: and https: URLs",
        install="pip install httpx (a default install of audiosession has it)") from None

from audiosession.elements.sources import (
    MEDIA_ERR_NETWORK,
    MEDIA_ERR_SRC_NOT_SUPPORTED,
    MediaSourceError,
)
from audiosession.engine.decode import AudioReader, DecodeError

log = logging.getLogger(__name__)

Listener = Callable[..., None]

BUFFER_BYTES = 16 << 20
"""The byte ring: how much of the body is held at most (ahead of and behind the decoder)."""

HEAD_BYTES = 256 << 10
"""The start of the body is kept apart: decoders read headers again when they seek."""

OPEN_BYTES = 4 << 10
"""Bytes to receive before the decoder opens (fewer if the body is shorter)."""

PEEK_BYTES = 64 << 10
"""While opening, a read past the downloaded bytes by this much, or this near the end, is a
peek (libsndfile looks for a tag at the end): it gets zeros rather than a wait."""

FAR_AHEAD_BYTES = 1 << 20
"""A read this far past the downloaded bytes is a jump (a seek), not the next bytes."""

DECODE_AHEAD = 2.0
"""Seconds of decoded audio kept ready for the audio thread."""

DECODE_FRAMES = 4096
"""Frames decoded per step of the decoder thread."""

CONNECT_TIMEOUT = 10.0
"""Seconds to connect before failing with ``MEDIA_ERR_NETWORK``."""

READ_TIMEOUT = 30.0
"""Seconds without a byte, while reading, before the download fails with a timeout."""

STALLED_AFTER = 3.0
"""Seconds without a byte, while fetching, before ``stalled`` fires (HTML: about 3 s)."""

LOAD_DEADLINE = 30.0
"""Seconds from the start of a load until its first audio is decoded. A server slower than that
(one that trickles its headers or body a byte at a time keeps every read timeout from firing)
fails the load with ``MEDIA_ERR_NETWORK``."""

PROGRESS_INTERVAL = 0.35
"""``progress`` fires at most this often while bytes arrive (HTML: 350 ms)."""

RESUME_ATTEMPTS = 3
"""Times a cut connection is resumed with ``Range`` (servers that support it) without progress."""

AUDIO_TYPES = ("audio/", "video/")
OTHER_MEDIA_TYPES = frozenset({
    "application/ogg", "application/octet-stream", "binary/octet-stream", "application/x-flac",
})


class _Ring:
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
        return self.low <= pos and pos + n <= self.high

    def get(self, pos: int, n: int) -> bytes:
        start = pos % self.capacity
        first = min(n, self.capacity - start)
        return bytes(self.data[start : start + first]) + bytes(self.data[: n - first])

    def at_end(self, pos: int) -> bool:
        """Whether ``pos`` is at or past the body's end (as far as is known now)."""
        if self.length is not None and pos >= self.length:
            return True
        return self.done and pos >= self.high


class _BodyFile:
    """The body as a seekable binary file for the decoder thread: reads wait for the bytes.

    A read returns fewer bytes than asked only at the end of the body, when the source is
    closed, when a seek interrupts a read that waits for bytes (``interrupted``), or when the
    bytes cannot be had (``unreachable``: behind the ring on a server without ranges).
    """

    def __init__(self, ring: _Ring, url: str) -> None:
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
                            "support range requests")
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


class NetworkSource:
    """An HTTP(S) URL played while it downloads; see the module docstring.

    The constructor only checks the URL; ``start_loading(listener)`` starts the threads.
    ``read``/``seek``/``position``/``duration``/``seekable``/``close`` are what the media
    element needs; ``ready_seconds`` and ``wait_ready`` tell how much audio is decoded ahead.
    """

    has_audio = True

    def __init__(self, url: str, rate: int, channels: int, *,
                 client: httpx.Client | None = None) -> None:
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError) as error:
            raise MediaSourceError(
                MEDIA_ERR_SRC_NOT_SUPPORTED, f"{url}: bad URL ({error})") from None
        if not parsed.host:
            raise MediaSourceError(MEDIA_ERR_SRC_NOT_SUPPORTED, f"{url}: no host in the URL")
        self.url = url
        self.name = url
        self.rate = int(rate)
        self.channels = int(channels)
        self._client = client
        self._ring = _Ring(BUFFER_BYTES)
        self._file = _BodyFile(self._ring, url)
        self._file.on_wait = self._watch_fetch
        self._listener: Listener = lambda kind, *args: None
        # PCM ready for the audio thread, guarded by _pcm (a Condition).
        self._pcm = threading.Condition()
        self._blocks: collections.deque[np.ndarray] = collections.deque()
        self._ready_frames = 0
        self._decoded_to_end = False
        self._starved = False
        self._sounded = False  # whether "playing" was reported since the source began
        self._generation = 0
        self._seek_to: float | None = None
        self._frames_out = 0
        self._base = 0.0
        self._duration: float | None = math.nan
        self._opened = False
        self._can_play = False
        self._load_deadline = math.inf
        self._stall_reported = 0.0
        self._failed = False
        self._closed = False
        self._bytes_per_second: float | None = None

    def __repr__(self) -> str:
        return f"NetworkSource({self.url!r})"

    # -- starting and stopping ------------------------------------------------------------------

    def start_loading(self, listener: Listener) -> None:
        """Start the download and decoder threads; ``listener(kind, *args)`` hears of them."""
        self._listener = listener
        self._load_deadline = time.monotonic() + LOAD_DEADLINE
        threading.Thread(target=self._download, name=f"audiosession-download {self.url}",
                         daemon=True).start()
        threading.Thread(target=self._decode, name=f"audiosession-decode {self.url}",
                         daemon=True).start()

    def close(self) -> None:
        """Stop both threads (they end on their own); reading afterwards gives no frames."""
        self._closed = True
        with self._ring.cond:
            self._ring.closed = True
            self._ring.abort_fetch()
            self._ring.cond.notify_all()
        with self._pcm:
            self._blocks.clear()
            self._ready_frames = 0
            self._decoded_to_end = True
            self._pcm.notify_all()

    def _notify(self, kind: str, *args: Any) -> None:
        if not self._closed:
            self._listener(kind, *args)

    def _fail(self, code: int, reason: str) -> None:
        """Report an error once; the element tears the source down."""
        with self._ring.cond:
            if self._failed or self._closed:
                return
            self._failed = True
            self._ring.error = (code, reason)
            self._ring.cond.notify_all()
        message = f"{self.url}: {reason}"
        log.info("network source failed: %s", message)
        self._notify("error", code, message)

    # -- the download thread --------------------------------------------------------------------

    def _download(self) -> None:
        client = self._client or httpx.Client(
            timeout=httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT),
            follow_redirects=True, headers={"Accept-Encoding": "identity"})
        try:
            self._download_with(client)
        except Exception as error:  # a bug, not a network condition: still fail cleanly
            log.exception("download of %s failed", self.url)
            self._fail(MEDIA_ERR_NETWORK, f"download failed ({error})")
        finally:
            if self._client is None:
                client.close()
            with self._ring.cond:
                self._ring.fetching = False

    def _download_with(self, client: httpx.Client) -> None:
        ring = self._ring
        offset = 0
        first = True
        attempts = 0
        while True:
            with ring.cond:
                if ring.closed or ring.error is not None:
                    return
                if ring.restart_at is not None:
                    offset, ring.restart_at = ring.restart_at, None
                    ring.reset(offset)
                elif ring.done:
                    ring.fetching = False
                    ring.cond.wait(0.25)
                    continue
                ring.fetching = True
                ring.last_data = time.monotonic()
            before = offset
            try:
                outcome, offset = self._fetch(client, offset, first)
            finally:
                with ring.cond:
                    ring.socket = None
            first = False
            if outcome == "failed":
                return
            if outcome == "cut":
                with ring.cond:
                    ranges, seeking = ring.ranges, ring.restart_at is not None
                attempts = 0 if offset > before else attempts + 1
                if seeking:
                    continue
                if not ranges or attempts >= RESUME_ATTEMPTS:
                    got = f"{offset} of {ring.length} bytes" if ring.length else f"{offset} bytes"
                    self._fail(MEDIA_ERR_NETWORK, f"the connection was cut after {got}")
                    return
                log.info("%s: connection cut at byte %d; resuming with a range request",
                         self.url, offset)

    def _fetch(self, client: httpx.Client, offset: int, first: bool) -> tuple[str, int]:
        """One GET from ``offset``: ("complete" | "cut" | "failed", the next offset)."""
        ring = self._ring
        headers = {"Range": f"bytes={offset}-"}
        answered = False

        def trace(event: str, info: dict[str, Any]) -> None:
            # The socket as soon as it connects: a close or a deadline can then cut a
            # server that trickles its headers.
            if event == "connection.connect_tcp.complete" and info.get("return_value"):
                with ring.cond:
                    ring.socket = info["return_value"].get_extra_info("socket")
                    if ring.closed or ring.error is not None:
                        ring.abort_fetch()

        try:
            with client.stream("GET", self.url, headers=headers,
                               extensions={"trace": trace}) as response:
                answered = True
                if not self._accept(response, offset, first):
                    return "failed", offset
                if response.status_code == 416:
                    return "complete", offset
                stream = response.extensions.get("network_stream")
                with ring.cond:
                    ring.socket = stream.get_extra_info("socket") if stream else None
                    if ring.closed or ring.restart_at is not None:
                        return "cut", offset
                last_progress = 0.0
                for chunk in response.iter_raw():
                    if not ring.write(chunk, offset):
                        return "cut", offset  # closed, or the decoder jumped elsewhere
                    offset += len(chunk)
                    now = time.monotonic()
                    if now - last_progress >= PROGRESS_INTERVAL:
                        last_progress = now
                        self._notify("progress")
        except httpx.TimeoutException as error:
            if offset == 0:
                self._fail(MEDIA_ERR_NETWORK, f"timed out ({_reason(error)})")
                return "failed", offset
            self._fail(MEDIA_ERR_NETWORK, f"timed out after {offset} bytes ({_reason(error)})")
            return "failed", offset
        except httpx.ConnectError as error:
            self._fail(MEDIA_ERR_NETWORK, f"cannot connect ({_reason(error)})")
            return "failed", offset
        except httpx.UnsupportedProtocol as error:
            # Only a redirect can get here (the URL itself is http: or https:).
            target = error.request.url
            self._fail(MEDIA_ERR_SRC_NOT_SUPPORTED,
                       f"the server redirected to a {target.scheme}: URL ({target}); only "
                       "http: and https: redirects are followed")
            return "failed", offset
        except (httpx.RemoteProtocolError, httpx.ReadError) as error:
            if isinstance(error, httpx.RemoteProtocolError) and not answered:
                # No valid response at all (headers too large, garbage): not a cut body.
                self._fail(MEDIA_ERR_NETWORK, _malformed_response(error))
                return "failed", offset
            log.info("%s: read failed at byte %d: %s", self.url, offset, _reason(error))
            return "cut", offset
        except httpx.HTTPError as error:
            self._fail(MEDIA_ERR_NETWORK, f"request failed ({_reason(error)})")
            return "failed", offset
        with ring.cond:
            if ring.length is not None and offset < ring.length:
                return "cut", offset
            ring.done = True
            ring.length = offset if ring.length is None and ring.low == 0 else ring.length
            ring.cond.notify_all()
        self._notify("progress")
        return "complete", offset

    def _accept(self, response: httpx.Response, offset: int, first: bool) -> bool:
        """Check a response's status, type and range; learn the length and range support."""
        ring = self._ring
        status = response.status_code
        if status == 416 and not first:  # asked past the end: the end was already there
            with ring.cond:
                ring.done = True
                ring.cond.notify_all()
            return True
        if status not in (200, 206):
            code = MEDIA_ERR_SRC_NOT_SUPPORTED if 400 <= status < 500 else MEDIA_ERR_NETWORK
            self._fail(code, f"HTTP {status} {response.reason_phrase}".rstrip())
            return False
        kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if first and kind and not (kind.startswith(AUDIO_TYPES) or kind in OTHER_MEDIA_TYPES):
            self._fail(MEDIA_ERR_SRC_NOT_SUPPORTED,
                       f"the server sent {kind!r}, not audio (HTTP {status})")
            return False
        total = _content_range_total(response) if status == 206 else None
        length = response.headers.get("content-length")
        with ring.cond:
            if status == 206:
                ring.ranges = True
                if total is not None:
                    ring.length = total
            elif offset > 0:
                # The server ignored the Range header: it sent the whole body again.
                ring.ranges = False
                self._fail(MEDIA_ERR_NETWORK,
                           f"the server ignored a range request for byte {offset} "
                           "(it does not support ranges)")
                return False
            else:
                ring.ranges = response.headers.get("accept-ranges", "").lower() == "bytes"
                if length is not None and length.isdigit():
                    ring.length = int(length)
            if first:
                ring.live = ring.length is None
            if first and ring.length is not None and not ring.data:
                ring.capacity = max(1, min(ring.capacity, ring.length))  # a short body
            ring.cond.notify_all()
        return True

    # -- the decoder thread ---------------------------------------------------------------------

    def _decode(self) -> None:
        try:
            reader = self._open()
        except Exception:
            log.exception("opening %s failed", self.url)
            self._fail(MEDIA_ERR_SRC_NOT_SUPPORTED, "cannot be decoded")
            return
        if reader is None:
            return
        try:
            self._decode_with(reader)
        except Exception as error:
            log.exception("decoding %s failed", self.url)
            self._fail(MEDIA_ERR_SRC_NOT_SUPPORTED, f"decoding failed ({error})")

    def _open(self) -> AudioReader | None:
        ring = self._ring
        with ring.cond:
            while not (ring.high >= OPEN_BYTES or ring.done or ring.closed
                       or ring.error is not None):
                self._watch_fetch()
                ring.cond.wait(0.25)
            if ring.closed or ring.error is not None:
                return None
        try:
            body: Any = self._file  # a binary file object in all but name
            reader = AudioReader(body, rate=self.rate, channels=self.channels)
        except DecodeError as error:
            with ring.cond:
                network_failed = ring.error is not None or ring.closed
            if not network_failed:
                self._fail(MEDIA_ERR_SRC_NOT_SUPPORTED,
                           f"not decodable audio ({error.reason})")
            return None
        self._file.opening = False
        with ring.cond:
            length, live = ring.length, ring.live
        # Without a Content-Length the body is a live stream: its duration is unknown.
        duration = None if live else reader.duration
        if duration is not None and length:
            self._bytes_per_second = length / duration if duration > 0 else None
        self._duration = duration
        self._opened = True
        log.info("%s: %s, duration %s, ranges %s", self.url, reader,
                 "unknown" if duration is None else f"{duration:.3f} s", ring.ranges)
        self._notify("loadedmetadata")
        return reader

    def _decode_with(self, reader: AudioReader) -> None:
        readers = [reader]  # the one in use is last; all are closed at the end
        try:
            self._decode_loop(readers)
        finally:
            for one in readers:
                one.close()

    def _decode_loop(self, readers: list[AudioReader]) -> None:
        reader = readers[-1]
        ring = self._ring
        announced = False
        ahead = int(DECODE_AHEAD * self.rate)
        target: float | None
        while True:
            with self._pcm:
                while True:
                    if self._closed:
                        return
                    if self._seek_to is not None:
                        target, self._seek_to = self._seek_to, None
                        generation = self._generation
                        break
                    if self._ready_frames < ahead and not self._decoded_to_end:
                        target, generation = None, self._generation
                        break
                    self._watch_fetch()
                    self._pcm.wait(0.25)
            if target is not None:
                with ring.cond:
                    ring.interrupt = False
                failure = None
                try:
                    if self._file.interrupted:
                        reader = self._reopen(reader)
                        readers.append(reader)
                    reader.seek(target)
                except DecodeError as error:
                    failure = error.reason
                with ring.cond:
                    if ring.interrupt or ring.closed:
                        continue  # another seek (or close) came meanwhile
                if self._file.unreachable or failure:
                    self._fail(MEDIA_ERR_NETWORK, self._file.unreachable or str(failure))
                    return
                continue
            block = reader.read(DECODE_FRAMES)
            with ring.cond:
                interrupted = ring.interrupt
            if self._file.unreachable:
                self._fail(MEDIA_ERR_NETWORK, self._file.unreachable)
                return
            with self._pcm:
                if interrupted or generation != self._generation or self._seek_to is not None:
                    continue  # a seek came while decoding: this block is stale
                if len(block):
                    self._blocks.append(block)
                    self._ready_frames += len(block)
                if len(block) < DECODE_FRAMES:
                    with ring.cond:
                        failed = ring.error is not None or ring.closed
                    if failed:
                        return
                    self._decoded_to_end = True
                self._pcm.notify_all()
            if not announced and (len(block) or self._decoded_to_end):
                announced = self._can_play = True
                self._notify("canplay")

    def _reopen(self, reader: AudioReader) -> AudioReader:
        """A fresh decoder on the body (its header is in the kept first bytes)."""
        reader.close()
        self._file.interrupted = False
        self._file.opening = True
        self._file.seek(0)
        body: Any = self._file
        try:
            return AudioReader(body, rate=self.rate, channels=self.channels)
        finally:
            self._file.opening = False

    def _watch_fetch(self) -> None:
        """While the decoder waits: fail a load past its deadline, report stalls."""
        if not self._can_play and time.monotonic() > self._load_deadline:
            self._fail(MEDIA_ERR_NETWORK,
                       f"no playable audio after {LOAD_DEADLINE:g} s (the server sent "
                       f"{self._ring.high} bytes in that time): too slow to play")
            self._ring.abort_fetch()
            return
        self._check_stalled()

    def _check_stalled(self) -> None:
        """Fire ``stalled`` once per stall: fetching, and no byte for ``STALLED_AFTER``.

        Reads the ring's fields without its lock: a late or early look costs one check."""
        ring = self._ring
        now = time.monotonic()
        quiet = now - max(ring.last_data, self._stall_reported)
        if ring.fetching and quiet >= STALLED_AFTER:
            self._stall_reported = now  # the next one after another quiet stretch
            self._notify("stalled")

    # -- what the media element reads (the audio thread) ----------------------------------------

    def read(self, frames: int) -> np.ndarray:
        """``frames`` frames: decoded audio, then silence if there is not enough yet (and
        ``waiting`` is reported); fewer only at the end of the media."""
        out = np.zeros((frames, self.channels), dtype=np.float32)
        got = 0
        with self._pcm:
            while got < frames and self._blocks:
                block = self._blocks[0]
                take = min(frames - got, len(block))
                out[got : got + take] = block[:take]
                got += take
                if take == len(block):
                    self._blocks.popleft()
                else:
                    self._blocks[0] = block[take:]
            self._ready_frames -= got
            self._frames_out += got
            ended = self._decoded_to_end and not self._blocks
            if got or ended:
                self._pcm.notify_all()
            if got == frames:
                if self._starved or not self._sounded:
                    # The first audio, or audio again: a play() waiting for it resolves.
                    self._starved, self._sounded = False, True
                    self._notify("playing")
                return out
            if ended:
                return out[:got]
            if not self._starved:
                self._starved = True
                self._notify("waiting")
        return out

    @property
    def ready(self) -> bool:
        """Whether ``read`` would give audio (or the end) rather than silence."""
        with self._pcm:
            return self._ready_frames > 0 or self._decoded_to_end

    def _download_stalled(self) -> bool:
        ring = self._ring
        return ring.fetching and time.monotonic() - ring.last_data >= STALLED_AFTER

    @property
    def ready_seconds(self) -> float:
        """Seconds of decoded audio ready for the audio thread."""
        with self._pcm:
            return self._ready_frames / self.rate

    def wait_ready(self, seconds: float, timeout: float | None = None) -> bool:
        """Wait (in real time) until ``seconds`` of audio are decoded ahead, the end is
        decoded, or the source failed or closed; False if ``timeout`` passed first."""
        return self._wait(seconds, timeout, until_stalled=False)

    def wait_playable(self, seconds: float, timeout: float | None = None) -> bool:
        """Like ``wait_ready``, but a stalled download (fetching, and no byte for
        ``STALLED_AFTER``) ends the wait too: virtual time's rule for the network
        (``audiosession.testing``)."""
        return self._wait(seconds, timeout, until_stalled=True)

    def _wait(self, seconds: float, timeout: float | None, until_stalled: bool) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        frames = math.ceil(seconds * self.rate)
        with self._pcm:
            while not (self._ready_frames >= frames or self._decoded_to_end or self._failed
                       or self._closed or (until_stalled and self._download_stalled())):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._pcm.wait(0.05 if left is None else min(left, 0.05))
        return True

    def seek(self, seconds: float) -> None:
        """Continue from ``seconds``. The decoder thread seeks (with a range request if
        needed); until it has audio there, ``read`` gives silence. Raises
        ``MediaSourceError`` when the server has no ranges and that part is not buffered."""
        if self._opened:
            self._check_reachable(seconds)
        with self._ring.cond:
            self._ring.interrupt = True
            self._ring.last_data = time.monotonic()  # a stall is measured from the seek on
            self._ring.cond.notify_all()
        with self._pcm:
            self._generation += 1
            self._seek_to = seconds
            self._blocks.clear()
            self._ready_frames = 0
            self._decoded_to_end = False
            self._base = seconds if self._duration is None or math.isnan(self._duration) \
                else min(seconds, self._duration)
            self._frames_out = 0
            self._pcm.notify_all()

    def _check_reachable(self, seconds: float) -> None:
        ring = self._ring
        with ring.cond:
            if ring.ranges:
                return
            low, high, done, length = ring.low, ring.high, ring.done, ring.length
        if low == 0 and (done or (length is not None and high >= length)):
            return  # the whole body is here
        rate = self._bytes_per_second
        if rate is None and self.position > 0:
            rate = self._file.pos / (self.position + self.ready_seconds)
        if rate is not None:
            estimate = seconds * rate
            margin = max(64 << 10, rate / 4)
            if low <= max(0.0, estimate - margin) and estimate + margin <= high:
                return
        raise MediaSourceError(
            MEDIA_ERR_NETWORK,
            f"cannot seek {self.url} to {seconds:g} s: that part is not buffered and the "
            "server does not support range requests (no 'Accept-Ranges: bytes')")

    @property
    def buffered_bytes(self) -> tuple[int, int]:
        """The bytes ``(start, end)`` of the body held now (besides its first bytes)."""
        with self._ring.cond:
            return self._ring.low, self._ring.high

    @property
    def seekable(self) -> bool:
        """Whether seeking anywhere works: the server supports ranges, or all is buffered."""
        ring = self._ring
        with ring.cond:
            return ring.ranges or (ring.low == 0 and ring.done)

    @property
    def position(self) -> float:
        """Seconds of the media played so far (after a seek: from the sought position)."""
        return self._base + self._frames_out / self.rate

    @property
    def duration(self) -> float | None:
        """Seconds; ``nan`` until the metadata is known, None for a stream of unknown length."""
        return self._duration


def _content_range_total(response: httpx.Response) -> int | None:
    """The total length from ``Content-Range: bytes a-b/total`` (None if ``*`` or absent)."""
    value = response.headers.get("content-range", "")
    total = value.rpartition("/")[2].strip()
    return int(total) if total.isdigit() else None


def _malformed_response(error: Exception) -> str:
    """What went wrong when the server's answer was not a valid HTTP response."""
    reason = _reason(error)
    if reason == "Receive buffer too long":  # h11, through httpcore's 100 kB limit
        return ("the server's response headers are larger than 100 kB (no body was read); "
                "httpx refuses them")
    return f"the server's answer is not a valid HTTP response ({reason})"


def _reason(error: Exception) -> str:
    text = str(error).strip()
    return text or type(error).__name__
