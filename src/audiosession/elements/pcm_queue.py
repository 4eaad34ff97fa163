"""Decoded audio between a network source's decoder thread and the audio thread."""

from __future__ import annotations

import collections
import threading

import numpy as np

__all__ = ["PcmQueue"]


class PcmQueue:
    """Blocks of decoded frames, in order, waiting for the audio thread.

    ``frames`` counts the frames held; ``complete`` says the decoder reached the end of the
    media; ``generation`` counts seeks (a block decoded for an earlier one is stale) and
    ``seek_to`` is the position a seek asks the decoder for, until it takes it. Every field is
    guarded by ``cond``, which the caller holds around each method; the decoder thread waits on
    it for room, the audio thread's readers wait on it for frames.
    """

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.blocks: collections.deque[np.ndarray] = collections.deque()
        self.frames = 0
        self.complete = False
        self.generation = 0
        self.seek_to: float | None = None

    @property
    def ended(self) -> bool:
        """Whether the decoder reached the end and every frame was taken."""
        return self.complete and not self.blocks

    def append(self, block: np.ndarray) -> None:
        """A block the decoder made (``frames`` x channels)."""
        self.blocks.append(block)
        self.frames += len(block)

    def take(self, out: np.ndarray) -> int:
        """Move the oldest frames into ``out`` (as many as it holds, or as are here);
        returns how many."""
        got = 0
        wanted = len(out)
        while got < wanted and self.blocks:
            block = self.blocks[0]
            n = min(wanted - got, len(block))
            out[got : got + n] = block[:n]
            got += n
            if n == len(block):
                self.blocks.popleft()
            else:
                self.blocks[0] = block[n:]
        self.frames -= got
        return got

    def restart_at(self, seconds: float) -> None:
        """A seek: drop every block and ask the decoder for ``seconds``."""
        self.generation += 1
        self.seek_to = seconds
        self.blocks.clear()
        self.frames = 0
        self.complete = False

    def drain(self) -> None:
        """The source closed: nothing more will come."""
        self.blocks.clear()
        self.frames = 0
        self.complete = True
