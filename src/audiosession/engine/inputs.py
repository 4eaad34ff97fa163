"""Inputs the engine captures from: a device's capture stream, a looped file (a fake
microphone), silence; and the tap that lets the program and playback of the stream each read
all of it."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from audiosession.engine.backend import DeviceInfo
from audiosession.engine.decode import DecodeError, open_audio
from audiosession.engine.engine import Capture
from audiosession.engine.voice_processing import (
    NO_PROCESSING,
    VoiceProcessing,
    VoiceProcessor,
    cancels_echo_itself,
)
from audiosession.errors import NotFoundError

log = logging.getLogger(__name__)


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
    samples. A device's capture may be voice processed (``set_processing``): both then read
    the processed audio, made on their threads."""

    MAX_BUFFERED_SECONDS = 2.0

    def __init__(
        self,
        capture: Capture | LoopedFileInput | SilentInput,
        label: str,
        device: DeviceInfo | None = None,
    ) -> None:
        self._capture = capture
        self.label = label
        self.device_id = device.id if device is not None else None
        """The input device captured; None for a fake microphone or silence."""
        self.channels = capture.channels
        self.rate = capture.rate
        self._pumped = isinstance(capture, Capture)
        self._program: deque[np.ndarray] = deque()
        self._playback: deque[np.ndarray] = deque()
        self._playback_wanted = False
        self._lock = threading.Lock()
        self._created = time.monotonic()
        self._processor: VoiceProcessor | None = None
        self.processed_by_server = device is not None and cancels_echo_itself(device)
        """The input is the sound server's echo canceller: it processes, we do not."""
        self.processing = NO_PROCESSING
        """The processing in force."""

    def set_processing(
        self,
        processing: VoiceProcessing,
        far_end: Callable[[], str | None],
        delay_hint: float = 0.0,
    ) -> None:
        """Process what is captured from now on as ``processing`` says, cancelling the echo
        of what the engine renders to the device ``far_end()`` names. A looped file or
        silence hears no output and is never processed; an input that is the server's echo
        canceller is already processed."""
        with self._lock:
            if self._processor is not None:
                self._processor.close()
                self._processor = None
            self.processing = processing if self._pumped else NO_PROCESSING
            if self._pumped and processing.wanted and not self.processed_by_server:
                assert isinstance(self._capture, Capture)
                try:
                    self._processor = VoiceProcessor(
                        self._capture.engine, processing, far_end, delay_hint=delay_hint
                    )
                except ImportError as error:
                    log.warning("%s: %s captures unprocessed", error, self.label)
                    self.processing = NO_PROCESSING

    def _pump(self) -> None:
        if not self._pumped:
            return
        assert isinstance(self._capture, Capture)
        block = self._capture.read()
        if len(block) and self._processor is not None and self._capture.started is not None:
            captured_at = round(self._capture.started * self.rate) + self._capture.last_read_from
            block = self._processor.process(block, captured_at)
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
        with self._lock:
            if self._processor is not None:
                self._processor.close()
                self._processor = None
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
