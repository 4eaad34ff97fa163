"""Audio made ahead of time: a bounded ring of ready frames per voice, filled by worker threads.

The audio thread must never decode, seek, resample or wait. An ``AheadBuffer`` sits between a
voice and whatever makes its frames (a decoder, a Python-computed signal): a worker thread
calls the producer in large chunks and appends to the buffer's ring, and the audio thread only
takes frames that are ready. Reading takes no lock: the ring has one writer (the worker, or the
thread that flushes) and one reader (the audio thread), each moving its own index.

How much is buffered, and why (``AHEAD_SECONDS``, ``CHUNK_FRAMES``):

- A worker makes ``CHUNK_FRAMES`` (4096, ~85 ms at 48 kHz) at a time: libsndfile decodes an
  MP3 in such calls for a fifth of the CPU it takes in 10 ms calls (docs/realtime.md).
- Each buffer holds at most ``AHEAD_SECONDS`` (0.4 s) and its worker tops it up as soon as a
  chunk fits, so it normally holds 0.3 to 0.4 s: the worker may be kept off the CPU (other
  programs' busy loops at the same priority, another Python thread holding the GIL, a page
  fault on a cold file) for about 0.3 s before its voice runs dry. More would only cost memory
  and delay nothing the user hears less (a seek refills at once): 64 voices hold
  64 x 0.4 s x 48000 x 2 x 4 bytes = 9.8 MB.
- One shared worker thread fills every buffer; a producer that gets stuck is given a thread of
  its own (``AheadWorkers``), so one slow producer starves only its own voice.

When a voice's ring is dry at the audio thread's read, the voice plays what there is and
silence for the rest of that block, and its ``underruns`` counter goes up: it never holds back
other voices or the stream. A producer whose chunk comes back empty has reached its end: the
end is marked in the ring, and ``read`` returns fewer frames than asked exactly there.

Seeking is ``flush(reposition)``: on the caller's thread (never the audio thread) it waits for
the worker's chunk in progress, calls ``reposition()``, makes the first chunk from the new
place, and swaps the new ring in at once; the audio thread's next block comes from there.

In virtual time (``AheadBuffer(..., workers=None)``) nothing runs ahead: a read that finds the
ring short makes chunks on the spot, so the mix is the same, sample for sample, every run.

A producer may also be fed from outside (push style: a program writing blocks it computed, a
network track): it returns what its writer has queued, or ``None`` while nothing is queued,
which is not the end: the ring stays as it is, a read that finds it dry counts an underrun,
and the worker asks again at its next poll, or at once when the writer calls ``wake()``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TypeVar

import numpy as np

log = logging.getLogger(__name__)

AHEAD_SECONDS = 0.4
"""Seconds of ready audio a buffer holds at most (see the module docstring for why)."""

CHUNK_FRAMES = 4096
"""Frames the worker asks a producer for at a time."""

POLL_SECONDS = 0.005
"""How often a worker asks a push-style producer that had nothing ready again (unless its
writer wakes the buffer first)."""

UNSIGNALLED_WAKE = 1.0
"""The longest a worker sleeps while buffers wait for room: the audio thread wakes it as soon
as a chunk fits, so this only bounds a wake-up that never came."""

STUCK_SECONDS = 0.1
"""A producer call longer than this gets a thread of its own (see ``AheadWorkers``)."""

T = TypeVar("T")

Produce = Callable[[int], np.ndarray | None]
"""``produce(frames)`` -> (n, channels) float32, 0 < n <= frames; an empty array = the end;
``None`` = nothing ready yet (a push-style producer whose writer is late), not the end."""


class _Ring:
    """The frames of one stretch of a buffer's audio (a new ring after each flush).

    ``written`` and ``taken`` count frames since the ring began; the worker (under the
    buffer's lock) moves ``written`` and ``end``, the audio thread moves ``taken``.
    """

    __slots__ = ("data", "written", "taken", "held", "end", "marks", "start")

    def __init__(self, frames: int, channels: int, start: float = 0.0) -> None:
        self.data = np.zeros((frames, channels), dtype=np.float32)
        self.written = 0
        self.taken = 0
        self.held = 0  # frames handed out by the last read_view, taken at the next read
        self.end: int | None = None  # where the producer's audio ended, once it has
        # (frame index, producer position in seconds) at the start of each chunk
        self.marks: deque[tuple[int, float]] = deque()
        self.start = start  # the producer's position where the ring begins


class AheadBuffer:
    """One voice's audio, made ahead of time by a worker and read by the audio thread.

    ``produce(frames)`` returns the next (n, channels) float32 frames, 0 < n <= frames, or an
    empty array at the end; it runs on a worker thread (or on the thread that calls ``flush``
    or ``prime``), never on the audio thread, and never on two threads at once. ``tell()``,
    if given, is the producer's position in seconds after what it last produced; it makes
    ``position`` exact across seeks and loops.

    The audio thread calls ``read(frames)`` or ``read_view(frames)`` (the mixer's ``Source``
    protocol); any other thread may call ``prime``, ``flush``, ``reopen``, ``cut``,
    ``exclusive``, ``positions_ahead`` and ``close``, and read ``position`` and the counters.
    ``workers=None`` makes frames on demand inside ``read`` instead (virtual time).
    """

    def __init__(
        self,
        produce: Produce,
        *,
        rate: int,
        channels: int,
        workers: AheadWorkers | None,
        tell: Callable[[], float] | None = None,
        seconds: float = AHEAD_SECONDS,
        chunk: int = CHUNK_FRAMES,
        name: str = "",
        history: int = 0,
        on_flush: Callable[[], None] | None = None,
    ) -> None:
        if rate <= 0 or channels <= 0:
            raise ValueError(f"rate and channels must be positive, not {rate!r}, {channels!r}")
        if chunk <= 0:
            raise ValueError(f"chunk must be a positive number of frames, not {chunk!r}")
        if not math.isfinite(seconds) or seconds * rate < chunk:
            raise ValueError(
                f"the buffer ({seconds!r} s) must hold at least one chunk ({chunk} frames)"
            )
        if history < 0:
            raise ValueError(f"history must be >= 0 frames, not {history!r}")
        self.rate = int(rate)
        self.channels = int(channels)
        self.chunk = int(chunk)
        self.ahead = int(seconds * rate)
        self.history = int(history)
        """Frames already read that the ring keeps, so the reader can go back over them
        (``rewind_to``): a stream that queued them in its server may render them again."""
        self.capacity = self.ahead + self.history
        self.on_flush = on_flush
        self.name = name
        self._produce = produce
        self._tell = tell
        self._workers = workers
        self._lock = threading.RLock()  # held while producing: one producer call at a time
        self._marks_lock = threading.Lock()  # the ring's marks, for ``position``
        self._ring = _Ring(self.capacity, self.channels, tell() if tell is not None else 0.0)
        self._scratch = np.zeros((0, self.channels), dtype=np.float32)
        self._primed = False
        self._waiting_for_room = False  # a worker sleeps until the reader makes room
        self._waiting_for_producer = False  # its last call had nothing ready (push style)
        self.closed = False
        self.underruns = 0
        """Blocks the audio thread found short of ready frames (each played partly silent)."""
        self.frames_missing = 0
        """Frames of silence those blocks played instead of audio."""
        if workers is not None:
            workers.add(self)

    def __repr__(self) -> str:
        ring = self._ring
        return (
            f"<AheadBuffer {self.name} {(ring.written - ring.taken) / self.rate:.3f} s "
            f"ready, {self.underruns} underruns>"
        )

    # -- the audio thread ---------------------------------------------------------------------

    def read(self, frames: int) -> np.ndarray:
        """The next ``frames`` frames as a new array (see ``read_view``)."""
        return np.array(self.read_view(frames), copy=True)

    def read_view(self, frames: int) -> np.ndarray:
        """The next ``frames`` frames: fewer only at the producer's end; zeros where the ring
        ran dry (counted in ``underruns``). Valid until the next call; do not write to it."""
        ring = self._ring
        if ring.held:
            ring.taken += ring.held
            ring.held = 0
        available = ring.written - ring.taken
        if available < frames and self._workers is None and not self.closed:
            self._fill_on_demand(ring, frames)
            available = ring.written - ring.taken
        if available >= frames:
            count = frames
        elif ring.end is not None and ring.written >= ring.end:
            count = available  # the end: a short block, and the voice ends
        else:
            count = available
            if not self.closed:
                self.underruns += 1
                self.frames_missing += frames - available
            out = self._contiguous(ring, count, frames)
            out[count:] = 0.0
            ring.taken += count
            if self._waiting_for_room:
                self._waiting_for_room = False
                self._workers.wake(self)  # type: ignore[union-attr]  # only workers wait
            return out
        start = ring.taken % self.capacity
        if start + count <= self.capacity:
            ring.held = count
            out = ring.data[start : start + count]
        else:
            out = self._contiguous(ring, count, count)
            ring.taken += count
        if self._waiting_for_room and self.room() >= self.chunk:
            self._waiting_for_room = False
            self._workers.wake(self)  # type: ignore[union-attr]  # only workers wait
        return out

    def _contiguous(self, ring: _Ring, count: int, size: int) -> np.ndarray:
        """The next ``count`` ready frames copied to the front of a scratch array of ``size``."""
        if len(self._scratch) < size:
            self._scratch = np.zeros((size, self.channels), dtype=np.float32)
        out = self._scratch[:size]
        start = ring.taken % self.capacity
        first = min(count, self.capacity - start)
        out[:first] = ring.data[start : start + first]
        out[first:count] = ring.data[: count - first]
        return out

    def mark(self) -> tuple[object, int]:
        """(The audio thread.) Where the reader stands, for ``rewind_to``."""
        ring = self._ring
        return ring, ring.taken + ring.held

    def rewind_to(self, mark: tuple[object, int] | None) -> bool:
        """(The audio thread.) Read again from ``mark`` (from ``mark()``): the frames read
        since are given again. A mark from before a flush rewinds to the new ring's start;
        None (the buffer was not read yet then) too. False, with nothing moved, if the
        ring no longer holds those frames (more than ``history`` ago)."""
        ring = self._ring
        at = mark[1] if mark is not None and mark[0] is ring else 0
        if at < ring.written - self.capacity or at > ring.taken + ring.held:
            return False
        ring.taken, ring.held = at, 0
        return True

    # -- filling ------------------------------------------------------------------------------

    def room(self) -> int:
        """Frames the ring can take now (0 once the end is in it, or when closed). The frames
        of the last ``read_view`` are not free until the next read: the audio thread may
        still be mixing them."""
        ring = self._ring
        if ring.end is not None or self.closed:
            return 0
        return self.ahead - (ring.written - ring.taken)

    def sleep_until_room(self) -> float | None:
        """(A worker, before it sleeps.) Have the audio thread wake the worker once a chunk
        fits; the seconds to sleep at most: None (until woken), or a poll while a push-style
        producer has nothing ready or while a chunk fits but another thread is producing
        (a flush or a prime, which wakes the worker when done: not a spin meanwhile)."""
        self._waiting_for_room = True  # first: a read from now on sees it
        if self.room() >= self.chunk or self._waiting_for_producer:
            return POLL_SECONDS
        return None

    @property
    def ready(self) -> int:
        """Frames ready for the audio thread."""
        ring = self._ring
        return ring.written - ring.taken - ring.held

    def fill(self, wait: bool = True) -> bool:
        """Produce one chunk into the ring if it has room; False if it had none, or if
        ``wait`` is False and another thread is producing. The workers call this."""
        if not self._lock.acquire(blocking=wait):
            return False
        try:
            return self._fill_locked(self._ring)
        finally:
            self._lock.release()

    def _fill_locked(self, ring: _Ring) -> bool:
        if self.closed or ring.end is not None:
            return False
        room = self.ahead - (ring.written - ring.taken)
        want = min(self.chunk, room)
        if want <= 0 or (want < self.chunk and ring.written > 0):
            return False  # wait until a whole chunk fits: large calls are the point
        try:
            block = self._produce(want)
        except Exception:
            log.exception("%s: producing audio failed; it ends here", self.name or self)
            block = self._scratch[:0]
        self._waiting_for_producer = block is None
        if block is None:
            return False  # nothing ready yet (push style): the worker asks again later
        count = len(block)
        if count > want:
            raise ValueError(f"{self._produce!r} returned {count} frames, more than {want}")
        if count == 0:
            ring.end = ring.written
            return True
        if self._tell is not None:
            at = self._tell() - count / self.rate
            with self._marks_lock:
                self._drop_marks_read(ring)
                ring.marks.append((ring.written, at))
        start = ring.written % self.capacity
        first = min(count, self.capacity - start)
        ring.data[start : start + first] = block[:first]
        ring.data[: count - first] = block[first:]
        ring.written += count
        return True

    def _fill_on_demand(self, ring: _Ring, frames: int) -> None:
        """Virtual time: make chunks on the reading thread until ``frames`` are ready."""
        with self._lock:
            while ring.written - ring.taken < frames and ring.end is None and not self.closed:
                if not self._fill_locked(ring):
                    break

    def prime(self) -> None:
        """Make the first chunk now, on this thread, so the voice does not start dry."""
        with self._lock:
            if not self._primed:
                self._primed = True
                if self._workers is not None:
                    self._fill_locked(self._ring)
        if self._workers is not None:
            self._workers.wake(self)

    def wake(self) -> None:
        """The producer has frames for the ring now (a push-style writer just queued some):
        have the worker ask for them at once rather than at its next poll."""
        if self._workers is not None:
            self._workers.wake(self)

    def flush(self, reposition: Callable[[], None] | None = None) -> None:
        """Drop every frame not yet read, call ``reposition()`` (a seek), and refill: the
        first chunk is made on this thread, so the next block read comes from the new place.

        ``reposition`` runs while no worker produces; if it raises, nothing is dropped."""
        ring = _Ring(self.capacity, self.channels)
        with self._lock:
            if reposition is not None:
                reposition()
            if self._tell is not None:
                ring.start = self._tell()
            if self._workers is not None and not self.closed:
                self._fill_locked(ring)
            self._ring = ring
        if self._workers is not None:
            self._workers.wake(self)
        if self.on_flush is not None:
            self.on_flush()

    def exclusive(self, change: Callable[[], T]) -> T:
        """Call ``change()`` while no producer call runs (to change the producer's settings),
        and return what it returns."""
        with self._lock:
            return change()

    def positions_ahead(self) -> list[tuple[int, float]]:
        """Where each stretch still to be read begins: (frames after the reader, the
        producer's position there in seconds), the reader's own place first. Needs ``tell``.
        A position that does not grow from one stretch to the next is a jump (a loop)."""
        with self._lock:
            ring = self._ring
            taken = ring.taken + ring.held
            points = [(0, self.position)]
            with self._marks_lock:
                points += [(index - taken, at) for index, at in ring.marks if index > taken]
            return points

    def cut(self, frames: int) -> None:
        """End the audio ``frames`` frames after the reader: what was made beyond is dropped
        and the producer is not called again (until ``reopen`` or ``flush``)."""
        if frames < 0:
            raise ValueError(f"frames must be >= 0, not {frames!r}")
        with self._lock:
            ring = self._ring
            end = min(ring.written, ring.taken + ring.held + frames)
            ring.end = ring.written = end
            with self._marks_lock:
                while ring.marks and ring.marks[-1][0] >= end:
                    ring.marks.pop()

    def reopen(self) -> None:
        """The producer has more after all (a loop turned on at the end): if the end is in
        the ring but not yet read, drop the end mark, make the next chunk on this thread and
        let the worker go on."""
        with self._lock:
            ring = self._ring
            if ring.end is not None and ring.taken + ring.held < ring.end:
                ring.end = None
                if self._workers is not None:
                    self._fill_locked(ring)  # the next pass's start, before the end is read
        if self._workers is not None:
            self._workers.wake(self)

    # -- what the owner reads -----------------------------------------------------------------

    @property
    def ended_in_ring(self) -> bool:
        """Whether the producer's end is in the ring (nothing more will be made)."""
        return self._ring.end is not None

    @property
    def ended(self) -> bool:
        """Whether the audio thread has read up to the producer's end."""
        ring = self._ring
        return ring.end is not None and ring.taken + ring.held >= ring.end

    @property
    def position(self) -> float:
        """Seconds, in the producer's terms (``tell``), of the next frame the audio thread
        will read; without ``tell``, seconds read since the last flush."""
        ring = self._ring
        taken = ring.taken + ring.held
        if self._tell is None:
            return taken / self.rate
        with self._marks_lock:  # not the producer's lock: a slow producer must not hold us
            self._drop_marks_read(ring)
            # The chunk being read: the last one that starts at or before the reader (the
            # ring keeps the marks of its history too).
            mark = next((m for m in reversed(ring.marks) if m[0] <= taken), None)
            if mark is None and ring.marks:
                mark = ring.marks[0]
        if mark is None:  # nothing in this ring yet (the producer may be past a chunk it makes)
            return ring.start
        index, seconds = mark
        return seconds + (taken - index) / self.rate

    def _drop_marks_read(self, ring: _Ring) -> None:
        """(Under the marks lock.) Forget the marks of chunks read to the end."""
        marks, taken = ring.marks, ring.taken + ring.held
        while len(marks) > 1 and marks[1][0] <= taken - self.history:
            marks.popleft()

    def close(self) -> None:
        """Stop filling; reads give the end. The producer is the owner's to close."""
        with self._lock:
            self.closed = True
            ended = _Ring(0, self.channels, self.position)
            ended.end = 0
            self._ring = ended
        if self._workers is not None:
            self._workers.remove(self)


class AheadWorkers:
    """The threads that keep an engine's ``AheadBuffer``s filled.

    One shared thread fills every buffer a chunk at a time, the emptiest first, and sleeps
    until a buffer has room for a chunk (one thread, not one per voice: at 64
    voices that costs a quarter less CPU, mostly thread switches and GIL hand-overs). A
    watchdog looks every ``STUCK_SECONDS``: a producer call that has run longer than
    ``STUCK_SECONDS`` (a decoder stuck on a cold disk, a Python ``process`` that takes too
    long) keeps the thread it is on for its own buffer from then on, and a new shared thread
    takes over the others, so one slow producer makes only its own voice run dry. A worker
    with nothing to fill sleeps until the audio thread, whose read made room for a chunk in a
    buffer, wakes it (an ``Event.set``, a few times a second per voice: the read that makes
    the room, never more); a worker never wakes to find no room.
    """

    def __init__(self, *, name: str = "audiosession-ahead", stuck: float = STUCK_SECONDS) -> None:
        self.name = name
        self.stuck = float(stuck)
        self._lock = threading.Lock()
        self._shared: tuple[AheadBuffer, ...] = ()
        self._own: dict[AheadBuffer, threading.Event] = {}  # buffers with a thread of their own
        self._wake_shared = threading.Event()
        self._lead: threading.Thread | None = None  # the thread serving the shared buffers
        self._current: tuple[AheadBuffer, float] | None = None  # the lead's call in progress
        self._left_to: dict[threading.Thread, AheadBuffer] = {}
        self._threads: list[threading.Thread] = []
        self._closed = threading.Event()

    def add(self, buffer: AheadBuffer) -> None:
        """Keep ``buffer`` filled until ``remove`` or ``close`` (starts the threads)."""
        with self._lock:
            if self._closed.is_set():
                raise RuntimeError("these workers are closed")
            self._shared = (*self._shared, buffer)
            if self._lead is None:
                self._start_lead()
                self._start(self._watch, "watchdog")
        self._wake_shared.set()

    def remove(self, buffer: AheadBuffer) -> None:
        """Stop filling ``buffer`` (after the chunk in hand); unknown buffers are ignored."""
        with self._lock:
            self._shared = tuple(b for b in self._shared if b is not buffer)
            wake = self._own.pop(buffer, None)
        if wake is not None:
            wake.set()

    def wake(self, buffer: AheadBuffer) -> None:
        """Look at ``buffer`` now rather than at the next poll."""
        (self._own.get(buffer) or self._wake_shared).set()

    def _start(self, target: Callable[..., None], label: str, *args: object) -> threading.Thread:
        thread = threading.Thread(
            target=target, args=args, name=f"{self.name} {label}", daemon=True
        )
        # Only the living: a thread a stuck producer kept ends with its buffer.
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(thread)
        thread.start()
        return thread

    def _start_lead(self) -> None:
        """(Under the lock.) A new thread for the shared buffers."""
        ready = threading.Event()
        self._lead = self._start(self._serve, "shared", ready)
        ready.set()

    def _serve(self, ready: threading.Event) -> None:
        ready.wait()
        me = threading.current_thread()
        while not self._closed.is_set():
            if self._lead is not me:
                # The watchdog gave the others to a new thread while a call of ours was slow:
                # this thread now serves that call's buffer alone.
                with self._lock:
                    buffer = self._left_to.pop(me, None)
                if buffer is not None:
                    self._keep_filled(buffer)
                return
            filled = False
            for buffer in sorted(self._shared, key=AheadBuffer.room, reverse=True):
                if buffer.room() < buffer.chunk:
                    continue
                self._current = (buffer, time.monotonic())
                try:
                    filled = buffer.fill(wait=False) or filled
                except Exception:
                    log.exception("filling %r failed", buffer)
                finally:
                    self._current = None
                if self._lead is not me:
                    break
            if not filled:
                timeout = self._next_room(self._shared)
                if self._lead is not me:
                    continue  # displaced meanwhile: its buffer is this thread's now
                # Bounded even with nothing to fill: were the watchdog to displace this thread
                # just now, the new lead may clear the wake meant for it.
                self._wake_shared.wait(UNSIGNALLED_WAKE if timeout is None else timeout)
                self._wake_shared.clear()

    @staticmethod
    def _next_room(buffers: tuple[AheadBuffer, ...]) -> float | None:
        """Seconds to sleep until one of ``buffers`` has room for a chunk: the audio thread
        says when (``sleep_until_room``), so only a push-style producer's poll or the
        ``UNSIGNALLED_WAKE`` backstop is timed; None with nothing to fill."""
        waits = [
            buffer.sleep_until_room()
            for buffer in buffers
            if not (buffer.ended_in_ring or buffer.closed)
        ]
        timed = [wait for wait in waits if wait is not None]
        return min(timed) if timed else (UNSIGNALLED_WAKE if waits else None)

    def _watch(self) -> None:
        while not self._closed.wait(self.stuck):
            current = self._current
            if current is None or time.monotonic() - current[1] < self.stuck:
                continue
            buffer = current[0]
            with self._lock:
                if self._lead is None or buffer not in self._shared:
                    continue
                log.info(
                    "%r: producing took over %.0f ms; it gets a thread of its own",
                    buffer,
                    1000 * self.stuck,
                )
                self._shared = tuple(b for b in self._shared if b is not buffer)
                self._own[buffer] = threading.Event()
                self._left_to[self._lead] = buffer
                self._lead.name = f"{self.name} {buffer.name or id(buffer)}"
                self._start_lead()
            self._wake_shared.set()

    def _keep_filled(self, buffer: AheadBuffer) -> None:
        """A thread of its own for ``buffer``: fill while there is room, then sleep until the
        audio thread will have read a chunk's worth (or until woken)."""
        wake = self._own.get(buffer)
        while wake is not None and not self._closed.is_set():
            try:
                if buffer.room() >= buffer.chunk and buffer.fill():
                    continue
            except Exception:
                log.exception("filling %r failed; its worker stops", buffer)
                return
            ended = buffer.ended_in_ring or buffer.closed
            wake.wait(None if ended else self._next_room((buffer,)))
            wake.clear()
            wake = self._own.get(buffer)

    def close(self) -> None:
        """Stop every thread (each finishes the chunk in hand)."""
        with self._lock:
            self._closed.set()
            self._shared, self._lead = (), None
            own, self._own = list(self._own.values()), {}
            threads, self._threads = list(self._threads), []
        self._wake_shared.set()
        for wake in own:
            wake.set()
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(timeout=2.0)
