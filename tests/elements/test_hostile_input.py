"""Careless and hostile use of media elements on the real clock: sources swapped mid-read."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from audiosession import Audio, Window
from audiosession.engine.null import NullBackend
from audiosession.loop import ThreadedLoop
from audiosession.platform.embedded import EmbeddedPlatform
from audiosession.platform.policy import PolicyConfig
from audiosession.session.runtime import Runtime


@pytest.fixture
def real_time_runtime() -> Iterator[Runtime]:
    """A process-like runtime: dispatcher thread, and a null sink rendering in real time."""
    loop = ThreadedLoop(name="hostile-input-loop")
    runtime = Runtime(loop, lambda task_loop: EmbeddedPlatform(
        task_loop, config=PolicyConfig(), backend_factory=NullBackend))
    try:
        yield runtime
    finally:
        runtime.close()
        loop.close()


def test_changing_src_while_a_looping_voice_reads_logs_nothing(real_time_runtime, media, caplog):
    # A 5 ms file looped: the audio thread wraps around (seeks to 0) in every block. Eight
    # resampled voices mixed before it in the same stream keep the audio thread busy between
    # taking the block's voice list and reading it, so the element's teardown (on the loop
    # thread) keeps landing in that window.
    window = Window(runtime=real_time_runtime)
    for freq in range(200, 1000, 100):
        background = Audio(media.tone(freq, 1.0, rate=44100), window=window)
        background.loop = True
        background.volume = 0.01
        background.play().result(5)
    shorts = [media.tone(440, 0.005, name="a.wav"), media.tone(660, 0.005, name="b.wav")]
    audio = Audio(shorts[0], window=window)
    audio.loop = True
    audio.play().result(5)
    caplog.set_level(logging.WARNING, logger="audiosession")
    for i in range(3000):
        audio.src = shorts[i % 2]
        audio.loop = True
        audio.play()
    audio.play().result(5)
    real_time_runtime.loop.run_until_idle()
    assert not audio.paused and audio.error is None
    assert [r.getMessage() for r in caplog.records] == []
