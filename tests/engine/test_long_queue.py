"""A steady stream queues long, and what must be heard at once still is: on a private
PulseAudio server and on a private PipeWire (pipewire-pulse).

Each test plays a sine made ahead by the engine's workers (what an element's decoded file
is), waits until its stream queues ``LONG_QUEUE_SECONDS``, then acts, and reads the sink's
monitor: where in the recording the act is heard, against where it would be heard with no
queue at all. That point is the sound's own start in the recording plus the time from the
call that started it to the act (a fresh stream's first sound is heard within a few ms:
benchmarks/first_sound.py), so the recording's timeline, not when parec hands its data over
(which a long queue delays), is what counts.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from audiosession.engine import Engine, Gain
from audiosession.engine.ahead import AheadBuffer
from audiosession.engine.backends.pulse.backend import PulseBackend
from audiosession.engine.backends.pulse.streams import PulseOutputStream
from support.pulse_server import RATE, Recorder, wait_for

AMPLITUDE = 0.3
STEP = 2 * np.pi * 1000 / RATE * AMPLITUDE  # the largest sample step of the 1 kHz sine
SOON = 0.020
"""Seconds within which an act is heard."""


class Sine:
    """A producer of an endless sine."""

    def __init__(self, freq: float, amplitude: float) -> None:
        self.freq, self.amplitude, self.frame = freq, amplitude, 0

    def __call__(self, frames: int) -> np.ndarray:
        t = (self.frame + np.arange(frames)) / RATE
        self.frame += frames
        wave = self.amplitude * np.sin(2 * np.pi * self.freq * t)
        return np.repeat(wave[:, None], 2, axis=1).astype(np.float32)


@pytest.fixture(params=["pulseaudio", "pipewire"])
def server(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(
        "pulse_server" if request.param == "pulseaudio" else "pipewire_server"
    )


class Playing:
    """One engine on the server playing a 1 kHz sine through a gain, the monitor recorded."""

    def __init__(self, server: Any) -> None:
        self.engine = Engine(PulseBackend(server=server.server_string))
        self.recorder = Recorder(server, "speakers.monitor").start()
        self.gain = Gain(1.0)
        self.music = self.ahead(1000, AMPLITUDE)
        self.started = time.monotonic()
        self.voice = self.engine.add_voice(self.music, gains=[self.gain], device="speakers")
        stream = self.engine._streams[("speakers", "music")]
        assert isinstance(stream, PulseOutputStream)
        self.stream = stream

    def ahead(self, freq: float, amplitude: float) -> AheadBuffer:
        buffer = self.engine.ahead(Sine(freq, amplitude))
        buffer.prime()
        return buffer

    def wait_until_queueing_long(self) -> None:
        stream = self.stream
        assert wait_for(lambda: stream._queue_blocks >= stream._long_blocks, 10)
        # What it queued long is in the server: the next write asks for a full long write.
        blocks = stream.blocks_rendered
        assert wait_for(lambda: stream.blocks_rendered > blocks, 5)

    def heard(self, until: float) -> tuple[np.ndarray, int]:
        """The recording (channel 0) once it holds what a call at ``until`` plus 0.3 s would
        be heard at, and where the sine's start is in it."""

        def start() -> int | None:
            loud = np.flatnonzero(np.abs(self.recorder.recorded()[:, 0]) > 0.5 * AMPLITUDE)
            return int(loud[0]) if len(loud) else None

        assert wait_for(lambda: start() is not None, 5)
        first = start()
        assert first is not None
        end = self.at(until, first) + int(0.3 * RATE)
        assert wait_for(lambda: len(self.recorder.recorded()) > end, 10)
        return self.recorder.stop()[:, 0], first

    def at(self, when: float, start: int) -> int:
        """Where in the recording a call at ``when`` would be heard with no queue."""
        return start + int((when - self.started) * RATE)

    def close(self) -> None:
        self.recorder.stop()
        self.engine.close()


@pytest.fixture
def playing(server: Any) -> Iterator[Playing]:
    playing = Playing(server)
    try:
        yield playing
    finally:
        playing.close()


def test_a_pause_while_queueing_long_is_silent_within_20_ms_and_fades(playing: Playing) -> None:
    playing.wait_until_queueing_long()
    rewrites = playing.stream.rewrites
    paused_at = time.monotonic()
    playing.voice.playing = False
    assert wait_for(lambda: playing.stream.rewrites > rewrites)
    heard, start = playing.heard(paused_at)
    last = int(np.flatnonzero(np.abs(heard) > 1e-3)[-1])
    assert (last - playing.at(paused_at, start)) / RATE < SOON
    # Faded out, not cut: no step larger than the sine's own up to the silence.
    assert np.max(np.abs(np.diff(heard[start + 100 : last + 100]))) < 1.2 * STEP


def test_a_duck_while_queueing_long_is_a_click_free_ramp_heard_at_once(playing: Playing) -> None:
    playing.wait_until_queueing_long()
    ducked_at = time.monotonic()
    playing.gain.set(0.25, ramp=0.1)
    heard, start = playing.heard(ducked_at)
    at = playing.at(ducked_at, start)
    assert np.max(np.abs(np.diff(heard[start + 100 :]))) < 1.2 * STEP
    peaks = np.abs(heard[at - RATE // 10 : at + RATE * 3 // 10]).reshape(-1, RATE // 1000)
    peaks = peaks.max(axis=1)  # ms by ms, from 100 ms before the call
    before, ducked = peaks[:90], peaks[-100:]
    assert np.all(before > 0.97 * AMPLITUDE)
    assert np.all(np.abs(ducked - 0.25 * AMPLITUDE) < 0.02 * AMPLITUDE)
    first_lower = int(np.flatnonzero(peaks < 0.97 * AMPLITUDE)[0]) - 100  # ms after the call
    assert first_lower < 1000 * SOON
    ramp = peaks[100 + first_lower : 200]
    assert np.all(np.diff(ramp) <= 0.01 * AMPLITUDE), np.round(ramp, 3)  # going down


def test_a_new_sound_while_queueing_long_starts_within_20_ms(playing: Playing) -> None:
    playing.wait_until_queueing_long()
    beep = playing.ahead(3000, 0.4)
    added_at = time.monotonic()
    playing.engine.add_voice(beep, device="speakers")
    heard, start = playing.heard(added_at)
    # Only with the new sound does the sum exceed the music's own peak.
    onset = int(np.flatnonzero(np.abs(heard) > 1.2 * AMPLITUDE)[0])
    late = (onset - playing.at(added_at, start)) / RATE
    assert late < SOON
    assert np.all(np.abs(heard[onset - RATE // 10 : onset - RATE // 200]) <= 1.01 * AMPLITUDE)


def test_an_echo_cancellers_far_end_keeps_the_devices_streams_short(playing: Playing) -> None:
    """The canceller's reference needs each block as it is heard: while it listens, a stream
    that queued long goes back to its latency and stays there; after, it queues long again."""
    from audiosession.engine.voice_processing import FarEndReference

    stream = playing.stream
    playing.wait_until_queueing_long()
    reference = FarEndReference(playing.engine, "speakers")
    playing.engine.add_output_listener("speakers", reference)
    assert wait_for(lambda: stream._queue_blocks <= stream._latency_blocks, 2)
    calm = time.monotonic() + 2.5  # longer than a stream takes to start queueing long
    while time.monotonic() < calm:
        assert stream._queue_blocks <= stream._latency_blocks
        time.sleep(0.05)
    reference.close()
    playing.wait_until_queueing_long()
