"""Generated audio on the real clock (null backend, dispatcher and audio threads): a writer
much faster than real time is held to the bound by ``write`` (and by ``write_async`` in
asyncio), and is heard whole, without an underrun."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from audiosession import Audio, MediaStream, MediaStreamTrackGenerator
from audiosession.engine.null import NullBackend
from audiosession.loop import ThreadedLoop
from audiosession.platform.embedded import EmbeddedPlatform
from audiosession.platform.policy import PolicyConfig
from audiosession.session.runtime import Runtime

from ..audio import RATE, tone_level_db

SPEECH_RATE = 22050
BLOCK = SPEECH_RATE // 50  # 20 ms
SECONDS = 3.0
BURST = 0.04  # soxr hands back its output in bursts of up to ~37 ms for 20 ms writes


@pytest.fixture
def runtime() -> Iterator[Runtime]:
    """A process-like runtime (real clock, dispatcher thread) playing on the null backend."""
    loop = ThreadedLoop(name="generated-audio-test-loop")
    runtime = Runtime(loop, lambda task_loop: EmbeddedPlatform(
        task_loop, config=PolicyConfig(), backend_factory=NullBackend))
    try:
        yield runtime
    finally:
        runtime.close()
        loop.close()


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


def check_heard_whole(output: np.ndarray, track: MediaStreamTrackGenerator,
                      progress: Progress) -> None:
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
