"""``PlayingSource``: a media element's source as the mixer reads it, looped, decoded ahead,
and resting while its element does not play."""

from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from audiosession.engine.mixer import LoopingSource, Source

if TYPE_CHECKING:
    from audiosession.engine.ahead import AheadBuffer
    from audiosession.platforms.local_audio import LocalAudio


class PlayingSource:
    """A media element's source as the mixer reads it: looped when asked (``LoopingSource``)
    and, for a file, decoded ahead by the engine's workers (``AheadBuffer``) from its first
    play on, so the audio thread never decodes. A network source decodes ahead on its own
    threads and a live stream has nothing to decode: the mixer reads those directly.

    A file source can *rest* while its element does not play: the file, its decoder and its
    buffer are closed, and where it stood is kept, so that the element holds nothing but a
    few numbers (docs/media.md, *What an element holds*). ``wake`` hands it a freshly opened
    file and it goes on from there."""

    def __init__(self, source: Any, loop: bool) -> None:
        self.source = source
        self._loop = loop
        self._looping = LoopingSource(source, loops=None if loop else 1)
        self._ahead: AheadBuffer | None = None
        # Seek and loop changes without a decode-ahead buffer, and the making of that buffer.
        self._lock = threading.Lock()
        self._duration: float | None = source.duration
        self._rest_position: float | None = None  # where it stands while resting
        self.waking = False

    @property
    def can_rest(self) -> bool:
        """Whether closing and reopening it loses nothing (a file; not a network stream)."""
        return bool(getattr(self.source, "reopenable", False))

    @property
    def resting(self) -> bool:
        return self._rest_position is not None

    def rest(self) -> None:
        """Close the file, its decoder and its buffer, and remember where it stood."""
        position = self.position
        self.close()
        self._rest_position = position

    def wake(self, source: Any) -> None:
        """Go on from where it rested with ``source``, the same media opened again."""
        assert self._rest_position is not None
        self.source = source
        self._duration = source.duration
        self._looping = LoopingSource(source, loops=None if self._loop else 1)
        if self._rest_position:
            self._looping.seek(self._rest_position)
        self._rest_position = None
        self.waking = False

    def voice_source(self, audio: LocalAudio, name: str) -> Source:
        """What a voice of this element reads (the decode-ahead buffer, made and primed on
        the first call, for a file)."""
        if self._ahead is None and getattr(self.source, "decode_ahead", False):
            with self._lock:  # its worker decodes at once: ``position`` must then read it
                self._ahead = audio.ahead(
                    self._looping.produce, tell=self._looping_position, name=name
                )
            self._ahead.prime()
        return self._ahead if self._ahead is not None else self

    def _looping_position(self) -> float:
        return self._looping.position

    def read(self, frames: int) -> np.ndarray:
        with self._lock:
            return self._looping.read(frames)

    def read_view(self, frames: int) -> np.ndarray:
        with self._lock:
            return self._looping.read_view(frames)

    def seek(self, seconds: float) -> None:
        if self._rest_position is not None:
            self._rest_position = _clamped(seconds, self._duration)
            return
        if self._ahead is not None:
            self._ahead.flush(lambda: self._looping.seek(seconds))
            return
        with self._lock:
            self._looping.seek(seconds)

    def set_loop(self, loop: bool) -> None:
        """Loop from now on, or end at the end of the pass being heard."""
        self._loop = loop
        looping, ahead = self._looping, self._ahead
        if self._rest_position is not None:
            return  # it wakes with a new LoopingSource
        if ahead is None:
            with self._lock:
                looping.loops = None if loop else looping.loop_count + 1
            return
        if loop:
            ahead.exclusive(lambda: setattr(looping, "loops", None))
            ahead.reopen()  # the end may be buffered already: play on past it
            return

        def stop_looping() -> None:
            # The passes decoded ahead of the one being heard are dropped, and the decoder
            # stands at its end again (so a loop turned back on goes on from there).
            points = ahead.positions_ahead()
            wraps = [
                frames
                for (frames, at), (_, before) in zip(points[1:], points[:-1], strict=True)
                if at <= before
            ]
            looping.loop_count -= len(wraps)
            looping.loops = looping.loop_count + 1
            if wraps:
                ahead.cut(wraps[0])
                looping.seek(self.source.duration)

        ahead.exclusive(stop_looping)

    @property
    def position(self) -> float:
        if self._rest_position is not None:
            return self._rest_position
        ahead = self._ahead
        if ahead is None:
            with self._lock:  # not while the decode-ahead buffer is made: it decodes already
                ahead = self._ahead
                if ahead is None:
                    return self._looping.position
        return ahead.position

    @property
    def duration(self) -> float | None:
        """Seconds; ``nan`` until known, None for a stream of unknown length."""
        return self._duration if self._rest_position is not None else self.source.duration

    @property
    def has_audio(self) -> bool:
        return True if self._rest_position is not None else bool(self.source.has_audio)

    @property
    def ready(self) -> bool:
        """Whether the source has audio to give now (a network source may not yet; a resting
        file not before it is open again)."""
        return self._rest_position is None and bool(getattr(self.source, "ready", True))

    def wait_playable(self, seconds: float, timeout: float) -> bool:
        """Wait (real time) until the source can give ``seconds`` of audio, if it reads
        the network (virtual time's rule, see ``audiosession.testing``)."""
        wait = getattr(self.source, "wait_playable", None)
        return True if wait is None else bool(wait(seconds, timeout))

    def close(self) -> None:
        if self._ahead is not None:
            self._ahead.close()
            self._ahead = None
        with self._lock:
            self.source.close()


def _clamped(seconds: float, duration: float | None) -> float:
    """``seconds`` within a file of ``duration`` (as a file's own seek would place it)."""
    if duration is None or math.isnan(duration):
        return seconds
    return min(seconds, duration)
