"""Media from ``http:`` and ``https:`` URLs: progressive download, decoding ahead, range seeks.

Three threads share the work, and only the last is the audio thread:

- the *download* thread (``elements/http_download.py``) fetches the body with ``httpx`` (TLS
  verification on) into a bounded ring of bytes (``elements/byte_ring.py``,
  ``BUFFER_BYTES``); when the ring is full it stops reading the socket (TCP back-pressure),
  and it re-requests with ``Range`` when the decoder jumps outside the ring (a seek) or when
  the connection is cut and the server supports ranges;
- the *decoder* thread (here) reads that ring through a blocking file object, decodes with
  the engine's ``AudioReader`` (libsndfile + soxr) and keeps up to ``DECODE_AHEAD`` seconds of
  PCM ready (``elements/pcm_queue.py``);
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

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from audiosession.elements.byte_ring import ByteRing, RingFile
from audiosession.elements.http_download import HttpDownload, check_url
from audiosession.elements.media_error import MediaError, MediaSourceError
from audiosession.elements.pcm_queue import PcmQueue
from audiosession.engine.decode import AudioReader, DecodeError

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

Listener = Callable[..., None]

BUFFER_BYTES = 16 << 20
"""The byte ring: how much of the body is held at most (ahead of and behind the decoder)."""

OPEN_BYTES = 4 << 10
"""Bytes to receive before the decoder opens (fewer if the body is shorter)."""

DECODE_AHEAD = 2.0
"""Seconds of decoded audio kept ready for the audio thread."""

DECODE_FRAMES = 4096
"""Frames decoded per step of the decoder thread."""

STALLED_AFTER = 3.0
"""Seconds without a byte, while fetching, before ``stalled`` fires (HTML: about 3 s)."""

LOAD_DEADLINE = 30.0
"""Seconds from the start of a load until its first audio is decoded. A server slower than that
(one that trickles its headers or body a byte at a time keeps every read timeout from firing)
fails the load with ``MEDIA_ERR_NETWORK``."""


class NetworkSource:
    """An HTTP(S) URL played while it downloads; see the module docstring.

    The constructor only checks the URL; ``start_loading(listener)`` starts the threads.
    ``read``/``seek``/``position``/``duration``/``seekable``/``close`` are what the media
    element needs; ``ready_seconds`` and ``wait_ready`` tell how much audio is decoded ahead.
    """

    has_audio = True

    def __init__(
        self, url: str, rate: int, channels: int, *, client: httpx.Client | None = None
    ) -> None:
        check_url(url)
        self.url = url
        self.name = url
        self.rate = int(rate)
        self.channels = int(channels)
        self._ring = ByteRing(BUFFER_BYTES)
        self._file = RingFile(self._ring, url)
        self._file.on_wait = self._watch_fetch
        self._download = HttpDownload(
            url, self._ring, fail=self._fail, notify=self._notify, client=client
        )
        self._listener: Listener = lambda kind, *args: None
        self._pcm = PcmQueue()  # PCM ready for the audio thread (guarded by its cond)
        self._starved = False
        self._sounded = False  # whether "playing" was reported since the source began
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
        threading.Thread(
            target=self._download.run, name=f"audiosession-download {self.url}", daemon=True
        ).start()
        threading.Thread(
            target=self._decode, name=f"audiosession-decode {self.url}", daemon=True
        ).start()

    def close(self) -> None:
        """Stop both threads (they end on their own); reading afterwards gives no frames."""
        self._closed = True
        with self._ring.cond:
            self._ring.closed = True
            self._ring.abort_fetch()
            self._ring.cond.notify_all()
        with self._pcm.cond:
            self._pcm.drain()
            self._pcm.cond.notify_all()

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

    # -- the decoder thread ---------------------------------------------------------------------

    def _decode(self) -> None:
        try:
            reader = self._open()
        except Exception:
            log.exception("opening %s failed", self.url)
            self._fail(MediaError.MEDIA_ERR_SRC_NOT_SUPPORTED, "cannot be decoded")
            return
        if reader is None:
            return
        try:
            self._decode_with(reader)
        except Exception as error:
            log.exception("decoding %s failed", self.url)
            self._fail(MediaError.MEDIA_ERR_SRC_NOT_SUPPORTED, f"decoding failed ({error})")

    def _open(self) -> AudioReader | None:
        ring = self._ring
        with ring.cond:
            while not (
                ring.high >= OPEN_BYTES or ring.done or ring.closed or ring.error is not None
            ):
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
                self._fail(
                    MediaError.MEDIA_ERR_SRC_NOT_SUPPORTED, f"not decodable audio ({error.reason})"
                )
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
        log.info(
            "%s: %s, duration %s, ranges %s",
            self.url,
            reader,
            "unknown" if duration is None else f"{duration:.3f} s",
            ring.ranges,
        )
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
        pcm = self._pcm
        announced = False
        ahead = int(DECODE_AHEAD * self.rate)
        target: float | None
        while True:
            with pcm.cond:
                while True:
                    if self._closed:
                        return
                    if pcm.seek_to is not None:
                        target, pcm.seek_to = pcm.seek_to, None
                        generation = pcm.generation
                        break
                    if pcm.frames < ahead and not pcm.complete:
                        target, generation = None, pcm.generation
                        break
                    self._watch_fetch()
                    pcm.cond.wait(0.25)
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
                    self._fail(MediaError.MEDIA_ERR_NETWORK, self._file.unreachable or str(failure))
                    return
                continue
            block = reader.read(DECODE_FRAMES)
            with ring.cond:
                interrupted = ring.interrupt
            if self._file.unreachable:
                self._fail(MediaError.MEDIA_ERR_NETWORK, self._file.unreachable)
                return
            with pcm.cond:
                if interrupted or generation != pcm.generation or pcm.seek_to is not None:
                    continue  # a seek came while decoding: this block is stale
                if len(block):
                    pcm.append(block)
                if len(block) < DECODE_FRAMES:
                    with ring.cond:
                        failed = ring.error is not None or ring.closed
                    if failed:
                        return
                    pcm.complete = True
                pcm.cond.notify_all()
            if not announced and (len(block) or pcm.complete):
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
            self._fail(
                MediaError.MEDIA_ERR_NETWORK,
                f"no playable audio after {LOAD_DEADLINE:g} s (the server sent "
                f"{self._ring.high} bytes in that time): too slow to play",
            )
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
        pcm = self._pcm
        with pcm.cond:
            got = pcm.take(out)
            self._frames_out += got
            ended = pcm.ended
            if got or ended:
                pcm.cond.notify_all()
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
        with self._pcm.cond:
            return self._pcm.frames > 0 or self._pcm.complete

    def _download_stalled(self) -> bool:
        ring = self._ring
        return ring.fetching and time.monotonic() - ring.last_data >= STALLED_AFTER

    @property
    def ready_seconds(self) -> float:
        """Seconds of decoded audio ready for the audio thread."""
        with self._pcm.cond:
            return self._pcm.frames / self.rate

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
        pcm = self._pcm
        with pcm.cond:
            while not (
                pcm.frames >= frames
                or pcm.complete
                or self._failed
                or self._closed
                or (until_stalled and self._download_stalled())
            ):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                pcm.cond.wait(0.05 if left is None else min(left, 0.05))
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
        with self._pcm.cond:
            self._pcm.restart_at(seconds)
            self._base = (
                seconds
                if self._duration is None or math.isnan(self._duration)
                else min(seconds, self._duration)
            )
            self._frames_out = 0
            self._pcm.cond.notify_all()

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
            MediaError.MEDIA_ERR_NETWORK,
            f"cannot seek {self.url} to {seconds:g} s: that part is not buffered and the "
            "server does not support range requests (no 'Accept-Ranges: bytes')",
        )

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
