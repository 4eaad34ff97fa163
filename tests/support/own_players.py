"""Players of the test process that are not this package's: a tone through libpulse-simple on
a thread (as a library that knows nothing of us plays), and what ``OwnStreams`` reports."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from audiosession.engine.backends.pulse.own_streams import OwnStream
from audiosession.engine.backends.pulse.simple import SimpleStream

RATE = 48000
S16LE = 3  # PA_SAMPLE_S16LE


class SimpleTone:
    """A sine of ``freq`` Hz at ``amplitude`` played through libpulse-simple on a thread of
    this process, by a client called ``application`` with ``media.role`` ``role``, until
    ``stop()``."""

    def __init__(
        self,
        freq: float = 440.0,
        *,
        amplitude: float = 0.5,
        role: str = "music",
        application: str = "tone-player",
    ) -> None:
        self.freq, self.amplitude, self.role, self.application = freq, amplitude, role, application
        self._stop = threading.Event()
        self._opened = threading.Event()
        self._stream: SimpleStream | None = None
        self._thread = threading.Thread(target=self._play, name="simple-tone", daemon=True)

    def start(self) -> SimpleTone:
        """Start playing; returns once the stream is connected."""
        self._thread.start()
        if not self._opened.wait(10) or self._stream is None:
            raise AssertionError("libpulse-simple could not open a stream")
        return self

    def stop(self) -> None:
        self._stop.set()
        self._opened.set()
        self._thread.join(10)

    def __enter__(self) -> SimpleTone:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _play(self) -> None:
        stream = SimpleStream.open(RATE, 2, S16LE, None, self.role, application=self.application)
        self._stream = stream
        self._opened.set()
        if stream is None:
            return
        block = RATE // 50
        position = 0
        try:
            while not self._stop.is_set():
                t = (position + np.arange(block)) / RATE
                position += block
                wave = self.amplitude * np.sin(2 * np.pi * self.freq * t)
                samples = np.round(wave * 32767).astype("<i2")
                stream.write(np.repeat(samples[:, None], 2, axis=1).tobytes())
        finally:
            stream.close()


@dataclass
class Reports:
    """An ``OwnStreamListener`` that keeps what it heard, in order, for tests to wait on."""

    heard: list[tuple[str, int]] = field(default_factory=list)
    streams: dict[int, OwnStream] = field(default_factory=dict)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def appeared(self, stream: OwnStream, playing: bool) -> None:
        with self._changed:
            self.streams[stream.index] = stream
            self.heard.append(("appeared", stream.index))
            if playing:
                self.heard.append(("playing", stream.index))
            self._changed.notify_all()

    def playing(self, index: int) -> None:
        self._add("playing", index)

    def paused(self, index: int) -> None:
        self._add("paused", index)

    def gone(self, index: int) -> None:
        self._add("gone", index)

    def _add(self, what: str, index: int) -> None:
        with self._changed:
            self.heard.append((what, index))
            self._changed.notify_all()

    def wait_for_stream(self, application: str, timeout: float = 10.0) -> OwnStream:
        """The stream of client ``application`` once it was reported."""

        def found() -> OwnStream | None:
            return next((s for s in self.streams.values() if s.program == application), None)

        with self._changed:
            if not self._changed.wait_for(lambda: found() is not None, timeout):
                raise AssertionError(f"no stream of {application!r} reported: {self.heard}")
        stream = found()
        assert stream is not None
        return stream

    def wait_for(self, what: str, index: int, timeout: float = 10.0) -> None:
        """Wait until ``(what, index)`` was reported."""
        with self._changed:
            if not self._changed.wait_for(lambda: (what, index) in self.heard, timeout):
                raise AssertionError(f"{what} #{index} not reported: {self.heard}")
