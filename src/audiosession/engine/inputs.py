"""Inputs the engine captures from: a device's capture stream, a looped file (a fake
microphone), silence; and the tap that lets the program and playback of the stream each read
all of it."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from audiosession.engine.decode import DecodeError, open_audio
from audiosession.engine.engine import Capture
from audiosession.errors import NotFoundError


class SilentInput:
    """An input that delivers silence in real time (no microphone on this machine)."""

    def __init__(self, channels: int, rate: int, clock: Callable[[], float]) -> None:
        self.channels = channels
        self.rate = rate
        self._clock = clock
        self._started = self._clock()
        self._delivered = 0

    def read(self, frames: int | None = None) -> np.ndarray:
        due = int((self._clock() - self._started) * self.rate) - self._delivered
        count = max(0, due) if frames is None else frames
        self._delivered += count
        return np.zeros((count, self.channels), dtype=np.float32)

    def close(self) -> None:
        pass


class LoopedFileInput:
    """An audio file, looped, captured at the loop's pace: a fake microphone, a remote
    participant."""

    def __init__(self, path: str, channels: int, rate: int, clock: Callable[[], float]) -> None:
        try:
            self._reader = open_audio(path, rate=rate, channels=channels)
        except DecodeError as error:
            raise NotFoundError(f"cannot capture from {path}: {error}") from None
        self.channels = channels
        self.rate = rate
        self._clock = clock
        self._started = self._clock()
        self._delivered = 0
        self._lock = threading.Lock()

    def read(self, frames: int | None = None) -> np.ndarray:
        """The next frames: ``frames`` of them, or as many as are due by the clock."""
        with self._lock:
            if frames is None:
                frames = max(0, int((self._clock() - self._started) * self.rate) - self._delivered)
            parts, missing = [], frames
            while missing > 0:
                block = self._reader.read(missing)
                if len(block) == 0:
                    self._reader.seek(0.0)
                    block = self._reader.read(missing)
                    if len(block) == 0:
                        break
                parts.append(block)
                missing -= len(block)
            self._delivered += frames
            if not parts:
                return np.zeros((frames, self.channels), dtype=np.float32)
            return np.concatenate(parts)

    def close(self) -> None:
        self._reader.close()


class CaptureTap:
    """One capture read by two consumers: the program (``read``) and playback of the stream
    (``read_for_playback``), each with its own bounded buffer, so neither steals the other's
    samples."""

    MAX_BUFFERED_SECONDS = 2.0

    def __init__(
        self,
        capture: Capture | LoopedFileInput | SilentInput,
        label: str,
        device_id: str | None = None,
    ) -> None:
        self._capture = capture
        self.label = label
        self.device_id = device_id
        """The input device captured; None for a fake microphone or silence."""
        self.channels = capture.channels
        self.rate = capture.rate
        self._pumped = isinstance(capture, Capture)
        self._program: deque[np.ndarray] = deque()
        self._playback: deque[np.ndarray] = deque()
        self._playback_wanted = False
        self._lock = threading.Lock()
        self._created = time.monotonic()

    def _pump(self) -> None:
        if not self._pumped:
            return
        assert isinstance(self._capture, Capture)
        block = self._capture.read()
        if len(block):
            self._program.append(block)
            if self._playback_wanted:
                self._playback.append(block)
            for queue in (self._program, self._playback):
                while sum(len(b) for b in queue) > self.MAX_BUFFERED_SECONDS * self.rate:
                    queue.popleft()

    def read(self, frames: int | None = None) -> np.ndarray:
        """Captured frames not yet read by the program (at most ``frames``)."""
        with self._lock:
            if not self._pumped:
                return self._capture.read(frames)
            self._pump()
            return _take(self._program, frames, self.channels)

    def read_for_playback(self, frames: int) -> np.ndarray:
        """Exactly ``frames`` frames for an output stream (zeros where none were captured)."""
        with self._lock:
            if not self._pumped:
                return self._capture.read(frames)
            self._playback_wanted = True
            self._pump()
            block = _take(self._playback, frames, self.channels)
        if len(block) < frames:
            block = np.concatenate(
                [np.zeros((frames - len(block), self.channels), np.float32), block]
            )
        return block

    def close(self) -> None:
        self._capture.close()


def _take(queue: deque[np.ndarray], frames: int | None, channels: int) -> np.ndarray:
    parts, count = [], 0
    while queue and (frames is None or count < frames):
        block = queue.popleft()
        if frames is not None and count + len(block) > frames:
            keep = frames - count
            queue.appendleft(block[keep:])
            block = block[:keep]
        parts.append(block)
        count += len(block)
    if not parts:
        return np.zeros((0, channels), dtype=np.float32)
    return np.concatenate(parts)
