"""Voice processing for a microphone: echo cancellation against what the engine renders (the
far-end reference), noise suppression and automatic gain control.

The processing is the WebRTC audio processing module (AEC3, NS, AGC2) through
``pywebrtc-audio`` (the ``voice`` extra; docs/devices.md, *Voice processing*, has the
comparison that chose it). It runs on the thread that reads the capture, never on the audio
thread; the audio threads only copy each rendered block into the reference's ring, and only
while a processed capture listens to that device.

Alignment: the reference places each block at the time it was rendered, the capture each
frame at the time it was captured (its stream's first block, then its frame count), both on
the engine's clock. A rendered block is heard one output latency later and a captured frame
reaches us one input latency later, so the echo always lags its reference: the canceller's
own delay estimator finds and tracks that lag (the backends' nominal latency is its hint).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from .timeline import Timeline

if TYPE_CHECKING:
    from .backend import DeviceInfo
    from .engine import Engine

log = logging.getLogger(__name__)

REFERENCE_SECONDS = 4.0
"""How much of the far end a reference keeps: more than a capture buffers (2 s)."""

SERVER_ECHO_CANCEL_MARKS = ("echo-cancel", "echo_cancel")
"""What the names of PulseAudio's ``module-echo-cancel`` sources (``<master>.echo-cancel``)
and PipeWire's echo-cancel node (``echo-cancel-source``) contain."""


@dataclass(frozen=True)
class VoiceProcessing:
    """Which processing a microphone track asks for (the web's audio constraints)."""

    echo_cancellation: bool = True
    noise_suppression: bool = True
    auto_gain_control: bool = True

    @property
    def wanted(self) -> bool:
        return self.echo_cancellation or self.noise_suppression or self.auto_gain_control

    def settings(self) -> dict[str, bool]:
        return {
            "echo_cancellation": self.echo_cancellation,
            "noise_suppression": self.noise_suppression,
            "auto_gain_control": self.auto_gain_control,
        }

    def with_changes(self, **changes: bool) -> VoiceProcessing:
        return replace(self, **changes)


NO_PROCESSING = VoiceProcessing(False, False, False)


def cancels_echo_itself(device: DeviceInfo) -> bool:
    """True for an input that is the sound server's echo canceller: processing it again would
    fight the server's canceller (and double the delay). The monitor of the canceller's sink
    is not: it records what plays there, echo and all."""
    return device.monitor_of is None and any(mark in device.id for mark in SERVER_ECHO_CANCEL_MARKS)


def load_audio_processor() -> Any:
    """The WebRTC module's class, or an ``ImportError`` saying how to install it."""
    try:
        from pywebrtc_audio import AudioProcessor
    except ImportError:
        raise ImportError(
            "voice processing (echo_cancellation, noise_suppression, auto_gain_control) needs "
            "the WebRTC audio processing module: pip install 'audiosession[voice]'; or ask "
            "for none: get_user_media(audio={'echo_cancellation': False, "
            "'noise_suppression': False, 'auto_gain_control': False})"
        ) from None
    return AudioProcessor


class FarEndReference:
    """What the engine rendered to one output device, mixed to mono on a timeline of render
    times (frames of the engine's clock), kept for ``REFERENCE_SECONDS``.

    The audio threads call ``take`` (an engine output listener); the capture's reader reads.
    """

    def __init__(self, engine: Engine, device: str) -> None:
        self.device = device
        self.rate = engine.rate
        self._engine = engine
        self._clock = engine.clock
        self._ring = np.zeros(int(REFERENCE_SECONDS * self.rate), np.float32)
        self._end = 0  # the frame after the last one written
        self._timelines: dict[str, Timeline] = {}  # role -> where its blocks go
        self._block = engine.blocksize
        self._lock = threading.Lock()
        self.stopped = False

    def take(self, role: str, block: np.ndarray) -> None:
        """A stream of the device rendered ``block`` (called on its audio thread)."""
        now = int(round(self._clock() * self.rate))
        timeline = self._timelines.get(role)
        if timeline is None:
            timeline = self._timelines[role] = Timeline(self.rate, self._block)
        at = timeline.place(now, len(block))
        mono = block.mean(axis=1) if block.ndim == 2 else block
        size = len(self._ring)
        with self._lock:
            end = at + len(mono)
            if end > self._end:
                cleared = np.arange(max(self._end, end - size), end) % size
                self._ring[cleared] = 0.0
                self._end = end
            if at >= self._end - size:
                self._ring[np.arange(at, end) % size] += mono

    keeps_streams_short = True
    """The echo must follow its reference by the same lag all along: a stream that queued
    a second and rewrote it would move the echo by as much."""

    def untake(self, role: str, frames: int) -> None:
        """A stream of the device renders again what it had queued (it went back to its
        latency as this reference began to listen): what was kept from now on is no longer
        what will be heard, and the stream's next block is heard from now."""
        now = int(round(self._clock() * self.rate))
        self._timelines.pop(role, None)
        size = len(self._ring)
        with self._lock:
            if self._end > now:
                self._ring[np.arange(max(now, self._end - size), self._end) % size] = 0.0
                self._end = now

    def read(self, start: int, frames: int) -> np.ndarray:
        """The mono far end rendered at frames ``start`` to ``start + frames`` (zeros where
        nothing was, or is no longer, kept)."""
        out = np.zeros(frames, np.float32)
        size = len(self._ring)
        with self._lock:
            first, last = max(start, self._end - size), min(start + frames, self._end)
            if last > first:
                out[first - start : last - start] = self._ring[np.arange(first, last) % size]
        return out

    def close(self) -> None:
        if not self.stopped:
            self.stopped = True
            self._engine.remove_output_listener(self)


class VoiceProcessor:
    """The processing of one capture: 10 ms frames of it, each with the far end rendered at
    the time it was captured, through the WebRTC module; the output is mono made as many
    channels as the capture has, and lags the input by less than one frame.

    ``far_end()`` says which output device the microphone hears (it may change during a
    call: the reference follows it).
    """

    def __init__(
        self,
        engine: Engine,
        processing: VoiceProcessing,
        far_end: Callable[[], str | None],
        *,
        delay_hint: float = 0.0,
    ) -> None:
        audio_processor = load_audio_processor()
        self.processing = processing
        self.rate = engine.rate
        self.frame = self.rate // 100
        self._engine = engine
        self._far_end = far_end
        self._reference: FarEndReference | None = None
        self._apm = audio_processor(
            sample_rate=self.rate,
            num_channels=1,
            echo_cancellation=processing.echo_cancellation,
            noise_suppression=processing.noise_suppression,
            auto_gain_control=processing.auto_gain_control,
            high_pass_filter=processing.echo_cancellation or processing.noise_suppression,
            stream_delay_ms=int(round(delay_hint * 1000)),
        )
        self._pending = np.zeros(0, np.float32)
        self._pending_start: int | None = None
        self.frames_processed = 0

    def _reference_now(self) -> FarEndReference | None:
        if not self.processing.echo_cancellation:
            return None
        device = self._far_end()
        if self._reference is not None and self._reference.device != device:
            self._reference.close()
            self._reference = None
        if self._reference is None and device is not None:
            self._reference = FarEndReference(self._engine, device)
            self._engine.add_output_listener(device, self._reference)
        return self._reference

    def process(self, block: np.ndarray, captured_at: int) -> np.ndarray:
        """Process a (frames, channels) capture block whose first frame was captured at frame
        ``captured_at`` of the engine's clock; returns the processed frames due so far."""
        channels = block.shape[1]
        mono = block.mean(axis=1, dtype=np.float32)
        if self._pending_start is None or captured_at != self._pending_start + len(self._pending):
            self._pending, self._pending_start = self._pending[:0], captured_at  # a gap
        self._pending = np.concatenate([self._pending, mono])
        whole = len(self._pending) // self.frame * self.frame
        if whole == 0:
            return np.zeros((0, channels), np.float32)
        reference = self._reference_now()
        out = np.empty(whole, np.float32)
        start = self._pending_start
        for offset in range(0, whole, self.frame):
            near = self._pending[offset : offset + self.frame]
            far = None if reference is None else reference.read(start + offset, self.frame)
            out[offset : offset + self.frame] = self._apm.process(near, far)
        self._pending = self._pending[whole:]
        self._pending_start = start + whole
        self.frames_processed += whole
        return np.repeat(out[:, None], channels, axis=1)

    def close(self) -> None:
        if self._reference is not None:
            self._reference.close()
            self._reference = None
