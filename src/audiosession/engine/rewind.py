"""Rendering again what a stream has queued but not yet played.

A stream whose audio needs no low latency (music that plays on, nothing started, paused or
ramped for a while) may queue much of it in its server, and write it in few, large writes.
When something must be heard at once (a pause, a seek, a new sound, a gain set), it renders
again from just after what is being heard and overwrites the rest of its queue. For that, a
``StreamRenderer`` keeps, while told to (``keep``), the mixer's state of the stream's voices
before each block it rendered (``Mixer.snapshot``), and the voices' decode-ahead buffers keep
the frames read (``AheadBuffer(history=...)``): ``rewind(frames)`` puts the voices back to
the block boundary nearest after that many frames ago.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import numpy as np

from .mixer import Mixer, RouteState

__all__ = ["LONG_QUEUE_SECONDS", "LONG_WRITE_SECONDS", "StreamRenderer"]

LONG_QUEUE_SECONDS = 1.0
"""The most a steady stream queues in its server (a backend that can: ``queues_long``)."""

LONG_WRITE_SECONDS = 0.25
"""How much a stream that queues long writes at a time (decode-ahead buffers of its voices
hold that much more ready: ``AHEAD_SECONDS`` is what a worker may lag behind)."""

GROW_SECONDS = 0.1
"""A steady stream queues this much more every this many seconds, up to
``LONG_QUEUE_SECONDS``: its voices are read twice as fast as they play meanwhile."""

CALM_SECONDS = 1.0
"""A stream queues long once nothing had to be heard at once for this long."""

REWRITE_MARGIN = 0.010
"""Seconds after what is being heard where a rewrite starts: what the server plays before the
rewrite reaches it (the time to render and send it), on an idle machine; a stream adds twice
the time its server took to say where it reads (a busy machine is slower for both)."""

REWRITE_MARGIN_MOST = 0.02
"""The most that delay adds (a late rewrite cuts its first few ms; one that never comes is
worse)."""


class StreamRenderer:
    """``render(frames)`` of one (device, role) stream of a mixer, able to go back over the
    blocks it rendered (up to ``history`` frames)."""

    def __init__(
        self,
        mixer: Mixer,
        device: str,
        role: str,
        history: int,
        take: Callable[[str, np.ndarray], None] | None = None,
        untake: Callable[[str, int], None] | None = None,
        held_short: Callable[[], bool] | None = None,
    ) -> None:
        self.mixer = mixer
        self.device, self.role = device, role
        self.history = history
        self._take, self._untake = take, untake
        self._held_short = held_short
        self.keep = False
        """Whether to keep the voices' state before each block (only a stream that queues
        more than a few blocks needs to; it costs a little per voice and block)."""
        self.rendered = 0
        """Frames rendered (less those gone back over)."""
        self._checkpoints: deque[tuple[int, RouteState | None]] = deque()

    def __call__(self, frames: int) -> np.ndarray:
        """One block of the stream (the mixer's ``render``)."""
        checkpoints = self._checkpoints
        if self.keep:
            checkpoints.append((self.rendered, self.mixer.snapshot(self.device, self.role)))
        block = self.mixer.render(self.device, self.role, frames)
        self.rendered += frames
        while checkpoints and checkpoints[0][0] < self.rendered - self.history:
            checkpoints.popleft()
        if self._take is not None:
            self._take(self.role, block)
        return block

    def steady(self) -> bool:
        """Whether the stream may queue long (``Mixer.steady``, and no listener of the
        device needs each block as it is heard: ``held_short``)."""
        if self._held_short is not None and self._held_short():
            return False
        return self.mixer.steady(self.device, self.role)

    def rewind(self, frames: int) -> int:
        """Go back to the first block boundary at most ``frames`` ago, so that the next
        ``render`` calls give that block and what follows again, rendered as things are now.
        Returns the frames gone back over (0: none, e.g. nothing kept so far back)."""
        checkpoints = self._checkpoints
        target = self.rendered - frames
        index = next((i for i, (at, _) in enumerate(checkpoints) if at >= target), None)
        if index is None:
            return 0
        at, state = checkpoints[index]
        later = [s for _, s in list(checkpoints)[index:]]
        if any(s is None for s in later):
            return 0
        # Voices that joined after that block go back to their first block.
        seen = {id(entry[0]) for entry in state or ()}
        joined = []
        for s in later:
            for entry in s or ():
                if id(entry[0]) not in seen:
                    seen.add(id(entry[0]))
                    joined.append(entry)
        if not self.mixer.restore((*(state or ()), *joined)):
            return 0
        while len(checkpoints) > index:
            checkpoints.pop()
        back = self.rendered - at
        self.rendered = at
        if self._untake is not None and back:
            self._untake(self.role, back)
        return back

    def forget(self) -> None:
        """Drop the kept states (the stream queues little again)."""
        self._checkpoints.clear()
