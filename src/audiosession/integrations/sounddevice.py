"""A sounddevice ``OutputStream`` in the session: ``SessionOutputStream(callback, ...)``.

    from audiosession.integrations.sounddevice import SessionOutputStream

    def callback(outdata, frames, time, status):
        outdata[:] = next_block(frames)     # the program's own audio, as with sounddevice

    with SessionOutputStream(callback, samplerate=48000, channels=2, kind="playback"):
        ...                                 # it plays while the block runs

It is a ``sounddevice.OutputStream`` whose callback the platform can pause and scale: its
``start()``, ``stop()`` and ``close()`` tell the session (``player``, an ``ExternalPlayer``)
what it does; a pause by the platform calls the program's callback no more (its position holds)
and plays silence, faded out over one block and in again over the first block after it; a
gain (a duck, its release, a stop's fade) is ramped sample by sample over the policy's ramp.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from audiosession.elements.external_player import ExternalPlayer, executable_name
from audiosession.errors import InvalidStateError, MissingDependencyError
from audiosession.session.window import Window

try:
    import sounddevice as sd
except OSError as error:  # the Python package is there, the PortAudio library is not
    raise MissingDependencyError(
        f"sounddevice cannot load PortAudio ({error}); install it: apt-get install libportaudio2"
    ) from None

__all__ = ["SessionOutputStream"]


class SessionOutputStream(sd.OutputStream):  # type: ignore[misc]
    """``SessionOutputStream(callback, *, window=None, kind="playback", **options)``: a
    ``sounddevice.OutputStream`` (``options`` are its own: ``samplerate``, ``channels``,
    ``dtype``, ``device``, ``blocksize``, ``finished_callback``...) in ``window``'s session
    (default: the top-level window's), ``kind`` as for ``ExternalPlayer``."""

    def __init__(
        self,
        callback: Callable[[np.ndarray, int, Any, sd.CallbackFlags], None],
        *,
        window: Window | None = None,
        kind: str = "playback",
        **options: Any,
    ) -> None:
        if not callable(callback):
            raise TypeError(f"SessionOutputStream's callback must be callable, not {callback!r}")
        self._program_callback = callback
        self._program_finished = options.pop("finished_callback", None)
        self._gain = _Ramp()
        self._pause_wanted = False
        self._paused = False
        self._stopping = False
        super().__init__(callback=self._render, finished_callback=self._finished, **options)
        self.player = ExternalPlayer(
            self._pause_for_platform,
            self._play_for_platform,
            self._ramp_for_platform,
            window=window,
            kind=kind,
            # What ALSA's pulse plugin names its client (PortAudio's ALSA host API).
            streams=f"ALSA plug-in [{executable_name()}]",
        )

    @property
    def gain(self) -> float:
        """The platform's gain on the last sample the stream played (1.0 unless ducked)."""
        return self._gain.value

    def start(self) -> None:
        """Start the stream (``OutputStream.start``), and tell the session it plays."""
        self._stopping = False
        super().start()
        self.player.playing()

    def stop(self, ignore_errors: bool = True) -> None:
        """Stop the stream (``OutputStream.stop``: what is queued plays out); it is paused."""
        self._stopping = True
        super().stop(ignore_errors)
        self.player.paused()

    def abort(self, ignore_errors: bool = True) -> None:
        """Stop the stream at once (``OutputStream.abort``); it is paused."""
        self._stopping = True
        super().abort(ignore_errors)
        self.player.paused()

    def close(self, ignore_errors: bool = True) -> None:
        """Close the stream (``OutputStream.close``) and take it out of the session."""
        self._stopping = True
        super().close(ignore_errors)
        self.player.close()

    # -- the platform's side (the dispatcher thread) -------------------------------------------

    def _pause_for_platform(self) -> None:
        self._pause_wanted = True

    def _play_for_platform(self) -> None:
        self._pause_wanted = False

    def _ramp_for_platform(self, gain: float, seconds: float) -> None:
        self._gain.move(gain, round(seconds * self.samplerate))

    # -- PortAudio's thread ----------------------------------------------------------------------

    def _render(self, outdata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        pausing = self._pause_wanted
        if pausing and self._paused:
            outdata.fill(0)
            return
        self._program_callback(outdata, frames, time, status)
        gains = self._gain.next(frames)
        if pausing != self._paused:  # this block fades out to the pause, or in from it
            self._paused = pausing
            fade = np.linspace(1.0, 0.0, frames) if pausing else np.linspace(0.0, 1.0, frames)
            gains = fade if gains is None else gains * fade
        if gains is not None:
            np.multiply(outdata, gains[:, np.newaxis], out=outdata, casting="unsafe")

    def _finished(self) -> None:
        if not self._stopping:  # the program's callback raised CallbackStop or CallbackAbort
            try:
                self.player.ended()
            except InvalidStateError:
                pass  # its window was closed: the session has gone
        if self._program_finished is not None:
            self._program_finished()


class _Ramp:
    """A gain that moves linearly, sample by sample, to a target set from another thread."""

    def __init__(self) -> None:
        self.value = 1.0
        self._lock = threading.Lock()
        self._wanted: tuple[float, int] | None = None
        self._step = 0.0
        self._target = 1.0
        self._left = 0

    def move(self, target: float, frames: int) -> None:
        """Go to ``target`` over the next ``frames`` samples (0: at once)."""
        with self._lock:
            self._wanted = (target, frames)

    def next(self, frames: int) -> np.ndarray | None:
        """The gains of the next ``frames`` samples; ``None`` when they are all 1."""
        with self._lock:
            wanted, self._wanted = self._wanted, None
        if wanted is not None:
            self._target, self._left = wanted
            self._step = (self._target - self.value) / self._left if self._left else 0.0
            if not self._left:
                self.value = self._target
        if not self._left:
            return None if self.value == 1.0 else np.full(frames, self.value)
        ramping = min(frames, self._left)
        gains = np.full(frames, self._target)
        gains[:ramping] = self.value + self._step * np.arange(1, ramping + 1)
        self._left -= ramping
        self.value = self._target if not self._left else float(gains[ramping - 1])
        return gains
