"""Careless and hostile use of media elements on the real clock: sources that block when
opened, sources swapped mid-read."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import math
import os
import signal
import threading
from collections.abc import Callable, Iterator

import pytest

from audiosession import Audio, MediaError, NotSupportedError, Window


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


def in_thread(action: Callable[[], object], seconds: float = 5.0) -> object:
    """Run ``action`` on another thread; fail if it has not returned after ``seconds``
    (it is then blocked, and left to finish when whatever holds it lets go)."""
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(action()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{action} was still blocked after {seconds} s"
    return result[0]


@contextlib.contextmanager
def slow_to_open(path: str) -> Iterator[None]:
    """Make opening ``path`` block until the block ends: this process holds a write lease
    on it, and the kernel holds back every other open until the lease is given up (as a
    file on a hung network share would)."""
    previous = signal.signal(signal.SIGIO, signal.SIG_IGN)  # the lease-break notice
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_WRLCK)
        yield
    finally:
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
        os.close(fd)
        signal.signal(signal.SIGIO, previous)


def test_a_fifo_as_src_fails_at_once_and_blocks_no_one(real_time_runtime, media, tmp_path):
    # Before: Audio("/tmp/fifo") blocked for ever, holding the loop's lock.
    music = Audio(media.tone(440, 30.0), window=Window(runtime=real_time_runtime))
    music.play().result(5)
    fifo = tmp_path / "fifo.wav"
    os.mkfifo(fifo)
    window = Window(runtime=real_time_runtime)
    try:
        bad = in_thread(lambda: Audio(str(fifo), window=window))
        assert isinstance(bad, Audio)
        with pytest.raises(NotSupportedError, match=r"FIFO \(named pipe\), not a regular"):
            bad.play().result(5)
        assert bad.error is not None
        assert bad.error.code == MediaError.MEDIA_ERR_SRC_NOT_SUPPORTED
        in_thread(music.pause)
        assert music.paused
    finally:
        with contextlib.suppress(OSError):  # a reader stuck in open() gets its end of file
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


def test_a_slow_open_holds_neither_the_loop_nor_other_elements(real_time_runtime, media):
    music_window, slow_window = Window(runtime=real_time_runtime), Window(runtime=real_time_runtime)
    music = Audio(media.tone(440, 30.0), window=music_window)
    music.play().result(5)
    paused = threading.Event()
    music.onpause = lambda event: paused.set()
    slow_path = media.tone(660, 5.0, name="slow.wav")
    with slow_to_open(slow_path):
        slow = in_thread(lambda: Audio(slow_path, window=slow_window))
        assert isinstance(slow, Audio)
        played = slow.play()
        # The open is blocked in the kernel; the program and the loop go on.
        in_thread(music.pause)
        assert paused.wait(5), "the loop did not fire 'pause' while a file was opening"
        other = in_thread(lambda: Audio(media.tone(880, 1.0), window=music_window))
        assert isinstance(other, Audio)
        assert not played.done() and math.isnan(slow.duration)
    played.result(5)  # the file opened once the lease was given up, and it plays
    assert slow.duration == pytest.approx(5.0) and not slow.paused
