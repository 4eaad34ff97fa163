"""Generated audio on the real clock (null backend, dispatcher and audio threads): a writer
much faster than real time is held to the bound by ``write`` (and by ``write_async`` in
asyncio) and heard whole, without an underrun; a processor too slow for real time runs dry
alone."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

from audiosession import (
    Audio,
    AudioContext,
    AudioWorkletNode,
    MediaStream,
    MediaStreamTrackGenerator,
)
from audiosession.session.runtime import Runtime
from support.audio import RATE, tone_level_db

SPEECH_RATE = 22050
BLOCK = SPEECH_RATE // 50  # 20 ms
SECONDS = 3.0
BURST = 0.04  # soxr hands back its output in bursts of up to ~37 ms for 20 ms writes


@pytest.fixture
def runtime(real_time_runtime: Runtime) -> Runtime:
    """The null backend in real time (``real_time_runtime``, tests/elements/conftest.py)."""
    return real_time_runtime


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {condition}"
        time.sleep(0.01)


def speech() -> list[np.ndarray]:
    t = np.arange(int(SECONDS * SPEECH_RATE)) / SPEECH_RATE
    signal = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    return [signal[i : i + BLOCK] for i in range(0, len(signal), BLOCK)]


class Progress:
    """What a writer saw: the most queued after a write, and when it finished writing."""

    def __init__(self) -> None:
        self.most_queued = 0.0
        self.started = time.monotonic()
        self.finished: float | None = None


def play(runtime: Runtime) -> tuple[MediaStreamTrackGenerator, Audio]:
    window = runtime.default_window
    track = MediaStreamTrackGenerator(kind="audio", rate=SPEECH_RATE, channels=1, window=window)
    element = Audio(window=window)
    element.src_object = MediaStream([track])
    element.play()
    return track, element


def check_heard_whole(
    output: np.ndarray, track: MediaStreamTrackGenerator, progress: Progress
) -> None:
    # Held back: it could have written everything at once; it wrote only as fast as it
    # was heard, never more than max_queued ahead.
    assert progress.most_queued <= track.max_queued + BURST
    assert progress.finished is not None
    assert progress.finished - progress.started >= SECONDS - track.max_queued - 0.1
    # Heard whole, at its level, without a gap.
    assert track.underruns == 0
    sounding = np.flatnonzero(np.abs(output[:, 0]) > 1e-3)
    start, end = sounding[0] / RATE, sounding[-1] / RATE
    assert end - start == pytest.approx(SECONDS, abs=0.01)
    for at in np.arange(start + 0.1, end - 0.2, 0.25):
        assert tone_level_db(output, 440, at) == pytest.approx(0, abs=0.2)


def test_a_writer_faster_than_real_time_waits_in_write_and_is_heard_whole(runtime):
    recording = runtime.platform.record()
    track, element = play(runtime)
    progress = Progress()

    def write_all() -> None:
        for block in speech():
            track.write(block)
            progress.most_queued = max(progress.most_queued, track.queued)
        track.close()
        progress.finished = time.monotonic()

    writer = threading.Thread(target=write_all)
    writer.start()
    wait_until(lambda: element.ended)
    writer.join()
    check_heard_whole(recording.stop(), track, progress)


def test_write_async_waits_without_holding_up_the_event_loop(runtime):
    recording = runtime.platform.record()
    track, element = play(runtime)
    progress = Progress()
    ticks = []

    async def write_all() -> None:
        for block in speech():
            await track.write_async(block)
            progress.most_queued = max(progress.most_queued, track.queued)
        track.close()
        progress.finished = time.monotonic()

    async def tick() -> None:
        while progress.finished is None:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    async def main() -> None:
        await asyncio.gather(write_all(), tick())

    asyncio.run(main())
    wait_until(lambda: element.ended)
    check_heard_whole(recording.stop(), track, progress)
    # While the writer awaited room the loop went on running the other coroutine.
    assert len(ticks) > 50


class Tone:
    """A processor computing a sine; ``delay`` seconds of sleep per call make it too slow
    (each call is for ~85 ms of audio)."""

    def __init__(self, freq: float, delay: float = 0.0) -> None:
        self.freq = freq
        self.delay = delay
        self.frame = 0

    def process(self, outputs: np.ndarray, frames: int) -> bool:
        if self.delay:
            time.sleep(self.delay)
        t = (self.frame + np.arange(frames)) / RATE
        outputs[:, 0] = 0.3 * np.sin(2 * np.pi * self.freq * t)
        self.frame += frames
        return True


def windowed_levels(output: np.ndarray, freq: float, start: float, end: float) -> np.ndarray:
    """The level (dB, re amplitude 0.3) of ``freq`` in each 50 ms window from start to end."""
    return np.array(
        [
            tone_level_db(output, freq, at, 0.05, reference=0.3)
            for at in np.arange(start, end - 0.05, 0.05)
        ]
    )


def test_a_slow_processor_runs_dry_alone_and_every_other_voice_plays_on(runtime, media):
    window = runtime.default_window
    recording = runtime.platform.record()
    fast_context = AudioContext(window=window)
    fast = AudioWorkletNode(fast_context, Tone(440))
    fast.connect(fast_context.destination)
    music = Audio(media.tone(660, 4.0, amplitude=0.3), window=window)
    music.play()
    # The slow one joins once the others play (a voice that starts while the shared worker
    # is inside a slow call has only its first chunk until the watchdog moves the slow one
    # to a thread of its own: docs/generated-audio.md).
    wait_until(lambda: music.current_time >= 0.3)
    slow_context = AudioContext(window=window)
    slow = AudioWorkletNode(slow_context, Tone(1000, delay=0.2))
    slow.connect(slow_context.destination)
    wait_until(lambda: slow.underruns >= 5 and music.current_time >= 2.5)
    output = recording.stop()
    slow_context.close()
    fast_context.close()
    start = np.flatnonzero(np.abs(output[:, 0]) > 1e-3)[0] / RATE
    end = len(output) / RATE - 0.1
    # The slow node is heard only now and then (silence where its ring ran dry, counted)...
    slow_levels = windowed_levels(output, 1000, start + 0.5, end)
    assert (slow_levels < -40).any() and (slow_levels > -1).any()
    # ...while the other node and the file play on in every 50 ms window, at their level.
    for freq in (440, 660):
        levels = windowed_levels(output, freq, start, end)
        first = int(np.flatnonzero(levels > -0.1)[0])  # its first whole window
        assert first <= 10
        assert levels[first:] == pytest.approx(np.zeros(len(levels) - first), abs=0.3), freq
    assert fast.underruns == 0 and music.error is None


def test_a_write_in_an_event_listener_never_waits(runtime):
    # A listener runs on the loop that would have to run the element's resume: a write there
    # that does not fit is refused at once (a blocking wait could wait for ever).
    track, element = play(runtime)
    outcome: list[BaseException | None] = []

    def listener() -> None:
        try:
            track.write(np.zeros(SPEECH_RATE // 2, np.float32))  # fits: queued at once
            track.write(np.zeros(SPEECH_RATE, np.float32))  # would wait: refused whole
        except RuntimeError as error:
            outcome.append(error)
        else:
            outcome.append(None)

    runtime.loop.queue_task(listener)
    wait_until(lambda: bool(outcome))
    assert isinstance(outcome[0], RuntimeError)
    assert "write from another thread, or use write_async" in str(outcome[0])
    assert track.queued <= 0.5
