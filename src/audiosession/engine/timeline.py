"""Where a stream's blocks are on the engine's clock, for what must line up two streams (the
echo canceller's far end and its microphone).

Each block follows the one before, so the timeline does not move with the jitter of the
audio threads: a callback that comes late on a busy machine is not a gap in the audio, since
the server holds a buffer. A stream that has fallen behind for good, though, lost frames (an
underrun of a playback stream, an overrun of a capture stream): the timeline starts again
from the clock."""

from __future__ import annotations

from collections import deque

__all__ = ["Timeline"]

JUMP_SECONDS = 0.2
"""A block this late is a new start at once (a stream that rested, or ran dry)."""

DRIFT_SECONDS = 0.015
"""Late by at least this much for every block of ``DRIFT_WINDOW_SECONDS``: frames were lost."""

DRIFT_WINDOW_SECONDS = 0.5


class Timeline:
    """``place(now, frames)``: the frame of the engine's clock where a block of ``frames``
    that came at ``now`` starts."""

    def __init__(self, rate: int, block_frames: int) -> None:
        self._jump = int(JUMP_SECONDS * rate)
        self._drift = int(DRIFT_SECONDS * rate)
        self._late: deque[int] = deque(
            maxlen=max(1, int(DRIFT_WINDOW_SECONDS * rate) // block_frames)
        )
        self._next: int | None = None
        self.restarts = 0
        """How often it started again from the clock after its first block."""

    def place(self, now: int, frames: int) -> int:
        if self._next is None:
            self._next = now
        else:
            late = now - self._next
            self._late.append(late)
            drifted = len(self._late) == self._late.maxlen and min(self._late) >= self._drift
            if late > self._jump or drifted:
                self._next = now
                self._late.clear()
                self.restarts += 1
        at = self._next
        self._next += frames
        return at

    @property
    def next(self) -> int | None:
        """Where the next block goes (None before the first)."""
        return self._next

    def go_back(self, frames: int) -> None:
        """The last ``frames`` placed are rendered again (a stream rewrote what it queued):
        they go where they went."""
        if self._next is not None:
            self._next -= frames
