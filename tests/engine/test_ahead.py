"""The decode-ahead buffer: frames made by workers, read by the audio thread without waiting."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

import audiosession.engine.ahead as ahead_module
from audiosession.engine import (
    AheadBuffer,
    AheadWorkers,
    Engine,
    LoopingSource,
    NullBackend,
    VirtualBackend,
    open_audio,
)
from support.engine import BLOCK, RATE, ArraySource, output, render, sine


class Counting:
    """A producer whose every sample is its frame number (so the ear can tell where it is),
    ``length`` frames long, optionally sleeping ``delay`` seconds per call (a slow decoder)."""

    def __init__(
        self,
        length: int = 10 * RATE,
        *,
        delay: float = 0.0,
        channels: int = 2,
        value: float | None = None,
    ) -> None:
        self.length = length
        self.delay = delay
        self.channels = channels
        self.value = value
        self.frame = 0
        self.calls = 0

    def produce(self, frames: int) -> np.ndarray:
        self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        count = max(0, min(frames, self.length - self.frame))
        if self.value is not None:
            block = np.full((count, self.channels), self.value, dtype=np.float32)
        else:
            numbers = np.arange(self.frame, self.frame + count, dtype=np.float32)
            block = np.repeat(numbers[:, None], self.channels, axis=1)
        self.frame += count
        return block

    def seek(self, frame: int) -> None:
        self.frame = frame

    def tell(self) -> float:
        return self.frame / RATE


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait (in real time) until ``condition()`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {condition}")
        time.sleep(0.005)


@pytest.fixture
def workers():
    pool = AheadWorkers()
    yield pool
    pool.close()


def test_a_slow_producer_runs_dry_alone_while_another_voice_plays_on():
    # Voice A (left channel) sleeps 150 ms for each 85 ms chunk: it cannot keep up. Voice B
    # (right channel) is instant. Both play for real on the null backend's clock.
    engine = Engine(NullBackend())
    try:
        slow = Counting(delay=0.15, value=0.25)
        fast = Counting(value=0.5)
        left = engine.ahead(lambda n: slow.produce(n) * np.array([1, 0], np.float32))
        right = engine.ahead(lambda n: fast.produce(n) * np.array([0, 1], np.float32))
        left.prime()
        right.prime()
        recording = engine.record("null")
        a = engine.add_voice(left)
        b = engine.add_voice(right)
        wait_for(lambda: a.underruns >= 3 and b.seconds_played >= 1.0)
        missing_at_stop = left.frames_missing
        out = recording.stop()
        missing_after = left.frames_missing
    finally:
        engine.close()
    start = int(np.flatnonzero(out[:, 1])[0])
    heard = out[start:]
    # B plays on without a gap, every frame at its level, whatever A does.
    np.testing.assert_array_equal(heard[:, 1], 0.5)
    assert b.underruns == 0 and right.frames_missing == 0
    # A is silent exactly where its ring ran dry, and each of those blocks was counted.
    silent = int(np.count_nonzero(heard[:, 0] == 0.0))
    assert silent > 0
    assert missing_at_stop - BLOCK <= silent <= missing_after + BLOCK
    assert set(np.unique(heard[:, 0])) == {0.0, 0.25}
    assert a.underruns >= 3


def test_a_voice_ahead_plays_sample_for_sample_what_its_source_gives_then_ends(workers):
    producer = Counting(length=5 * BLOCK + 123)
    buffer = AheadBuffer(
        producer.produce, rate=RATE, channels=2, workers=workers, tell=producer.tell
    )
    buffer.prime()
    wait_for(lambda: buffer.ended_in_ring)
    blocks = [buffer.read(BLOCK) for _ in range(6)]
    assert [len(b) for b in blocks] == [BLOCK] * 5 + [123]
    np.testing.assert_array_equal(np.concatenate(blocks)[:, 0], np.arange(5 * BLOCK + 123))
    assert buffer.ended and buffer.underruns == 0
    assert len(buffer.read(BLOCK)) == 0


def test_flush_seeks_and_the_next_block_comes_from_there(workers):
    producer = Counting()
    buffer = AheadBuffer(
        producer.produce, rate=RATE, channels=2, workers=workers, tell=producer.tell
    )
    buffer.prime()
    buffer.read(BLOCK)
    buffer.read(BLOCK)
    assert buffer.position == pytest.approx(2 * BLOCK / RATE)
    buffer.flush(lambda: producer.seek(3 * RATE))
    assert buffer.position == pytest.approx(3.0)
    block = buffer.read(BLOCK)
    np.testing.assert_array_equal(block[:, 0], np.arange(3 * RATE, 3 * RATE + BLOCK))
    assert buffer.position == pytest.approx(3.0 + BLOCK / RATE)
    assert buffer.underruns == 0


def test_a_failed_reposition_keeps_what_was_buffered(workers):
    producer = Counting()
    buffer = AheadBuffer(
        producer.produce, rate=RATE, channels=2, workers=workers, tell=producer.tell
    )
    buffer.prime()

    def refuse() -> None:
        raise ValueError("cannot seek there")

    with pytest.raises(ValueError, match="cannot seek there"):
        buffer.flush(refuse)
    np.testing.assert_array_equal(buffer.read(BLOCK)[:, 0], np.arange(BLOCK))


def test_the_buffer_holds_no_more_than_its_bound(workers):
    producer = Counting(length=100 * RATE)
    buffer = AheadBuffer(
        producer.produce, rate=RATE, channels=2, workers=workers, seconds=0.4, chunk=4096
    )
    buffer.prime()
    wait_for(lambda: buffer.room() < buffer.chunk)
    time.sleep(0.05)  # the worker had every chance to overfill; it must not
    assert buffer.ready <= int(0.4 * RATE)
    assert producer.frame == buffer.ready


def test_reopen_plays_past_an_end_already_buffered(workers):
    data = sine(300, 0.2, channels=2)
    looping = LoopingSource(ArraySeekable(data), loops=1)
    buffer = AheadBuffer(looping.produce, rate=RATE, channels=2, workers=workers)
    buffer.prime()
    wait_for(lambda: buffer.ended_in_ring)
    buffer.exclusive(lambda: setattr(looping, "loops", None))
    buffer.reopen()
    heard = np.concatenate([buffer.read(BLOCK) for _ in range(27)])  # into pass 2
    np.testing.assert_array_equal(heard[: len(data)], data)
    np.testing.assert_array_equal(heard[len(data) :], data[: len(heard) - len(data)])


def test_close_ends_reads_and_the_workers_stop():
    workers = AheadWorkers()
    producer = Counting()
    buffer = AheadBuffer(producer.produce, rate=RATE, channels=2, workers=workers)
    buffer.prime()
    buffer.close()
    assert len(buffer.read(BLOCK)) == 0 and buffer.ended
    workers.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("audiosession-ahead")]
    calls = producer.calls
    assert len(buffer.read(BLOCK)) == 0 and producer.calls == calls


def test_a_stuck_producer_gets_a_thread_of_its_own_and_the_others_play_on(workers):
    release = threading.Event()
    stuck = AheadBuffer(
        lambda n: (release.wait(), np.zeros((n, 2), np.float32))[1],
        rate=RATE,
        channels=2,
        workers=workers,
        name="stuck",
    )
    fine = Counting()
    buffer = AheadBuffer(fine.produce, rate=RATE, channels=2, workers=workers, name="fine")
    try:
        wait_for(
            lambda: (
                "stuck"
                in " ".join(
                    t.name for t in threading.enumerate() if t.name.startswith("audiosession-ahead")
                )
            )
        )
        heard = []
        for _ in range(100):  # 1 s of the other voice while the first one hangs
            wait_for(lambda: buffer.ready >= BLOCK)
            heard.append(buffer.read(BLOCK))
        np.testing.assert_array_equal(np.concatenate(heard)[:, 0], np.arange(100 * BLOCK))
        assert stuck.ready == 0
    finally:
        release.set()


def test_virtual_time_plays_the_very_samples_real_time_plays(mp3_of, workers):
    # A 44.1 kHz MP3, looped twice: decoded, resampled, wrapped. The producer is asked for
    # the same chunks in both clocks, so the samples are the same to the bit.
    path = mp3_of(sine(440, 0.7, amplitude=0.5, rate=44100), 44100)

    def looped() -> LoopingSource:
        return LoopingSource(open_audio(path, rate=RATE, channels=2), loops=2)

    engine = Engine(VirtualBackend(RATE, 2, BLOCK))
    source = looped()
    buffer = engine.ahead(source.produce, tell=lambda: source.position)
    buffer.prime()
    voice = engine.add_voice(buffer)
    render(engine, 2.0)
    virtual = output(engine)
    engine.close()
    assert voice.ended

    real_time = AheadBuffer(looped().produce, rate=RATE, channels=2, workers=workers)
    real_time.prime()
    blocks = []
    while not real_time.ended:
        wait_for(lambda: real_time.ready >= BLOCK or real_time.ended_in_ring)
        blocks.append(real_time.read(BLOCK))
    played = np.concatenate(blocks)
    assert real_time.underruns == 0
    assert len(played) == pytest.approx(2 * 0.7 * RATE, abs=BLOCK)
    np.testing.assert_array_equal(virtual[: len(played)], played)
    assert not virtual[len(played) :].any()

    # Read straight from the decoder in one call it is the same audio (soxr rounds the last
    # bit differently with other call sizes).
    direct = np.concatenate([looped().read(len(played))])
    np.testing.assert_allclose(direct, played, atol=1e-6)


class ArraySeekable(ArraySource):
    """An in-memory source that can seek (what ``LoopingSource`` loops)."""

    def seek(self, seconds: float) -> None:
        self.position = int(round(seconds * RATE))


class Pushed:
    """A push-style producer: a writer queues blocks; ``produce`` hands out what is queued,
    ``None`` while nothing is (the writer is late), and the end once the writer closed."""

    def __init__(self) -> None:
        self.blocks: list[np.ndarray] = []
        self.closed = False
        self.lock = threading.Lock()

    def write(self, block: np.ndarray) -> None:
        with self.lock:
            self.blocks.append(block)

    def produce(self, frames: int) -> np.ndarray | None:
        with self.lock:
            if not self.blocks:
                return np.zeros((0, 2), np.float32) if self.closed else None
            block = self.blocks.pop(0)
            if len(block) > frames:
                self.blocks.insert(0, block[frames:])
                block = block[:frames]
            return block


def counting(start: int, frames: int) -> np.ndarray:
    numbers = np.arange(start, start + frames, dtype=np.float32)
    return np.repeat(numbers[:, None], 2, axis=1)


def test_a_push_style_producer_with_nothing_queued_is_late_not_ended(workers, monkeypatch):
    # The worker would look again only after 10 s: frames arriving sooner prove the wake.
    monkeypatch.setattr(ahead_module, "POLL_SECONDS", 10.0)
    pushed = Pushed()
    buffer = AheadBuffer(pushed.produce, rate=RATE, channels=2, workers=workers)
    buffer.prime()
    # Nothing written: the reader hears silence, counted as an underrun; the voice goes on.
    assert not buffer.read(BLOCK).any()
    assert buffer.underruns == 1 and not buffer.ended_in_ring
    # The writer catches up; wake() has the worker take its frames at once (no 20 ms poll).
    pushed.write(counting(0, 3 * BLOCK))
    buffer.wake()
    wait_for(lambda: buffer.ready == 3 * BLOCK, timeout=2.0)
    np.testing.assert_array_equal(
        np.concatenate([buffer.read(BLOCK) for _ in range(3)])[:, 0], np.arange(3 * BLOCK)
    )
    assert buffer.underruns == 1
    # Closed by the writer: what is left plays, then the end.
    pushed.write(counting(3 * BLOCK, 100))
    pushed.closed = True
    buffer.wake()
    wait_for(lambda: buffer.ended_in_ring)
    assert len(buffer.read(BLOCK)) == 100 and buffer.ended


def test_a_push_style_producer_in_virtual_time_plays_what_was_written_by_each_read():
    pushed = Pushed()
    buffer = AheadBuffer(pushed.produce, rate=RATE, channels=2, workers=None)
    pushed.write(counting(0, BLOCK + 10))
    np.testing.assert_array_equal(buffer.read(BLOCK)[:, 0], np.arange(BLOCK))
    short = buffer.read(BLOCK)  # 10 frames, then the writer is late: zeros, one underrun
    np.testing.assert_array_equal(short[:10, 0], np.arange(BLOCK, BLOCK + 10))
    assert not short[10:].any() and buffer.underruns == 1 and not buffer.ended
    pushed.closed = True
    assert len(buffer.read(BLOCK)) == 0 and buffer.ended


def wakeups(thread: threading.Thread) -> int:
    """How many times ``thread`` has gone to sleep and woken (Linux: its voluntary context
    switches)."""
    status = open(f"/proc/self/task/{thread.native_id}/status").read()
    return int(status.split("voluntary_ctxt_switches:")[1].split()[0])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_worker_wakes_when_a_chunk_fits_and_sleeps_while_nothing_is_read(workers):
    produced: list[int] = []

    def produce(frames: int) -> np.ndarray:
        produced.append(frames)
        return np.zeros((frames, 2), np.float32)

    buffer = AheadBuffer(produce, rate=RATE, channels=2, workers=workers)
    buffer.prime()
    wait_for(lambda: buffer.room() < buffer.chunk)
    worker = next(t for t in threading.enumerate() if t.name.endswith(" shared"))
    # Nothing read (a paused voice): the worker sleeps through, however long.
    before, calls = wakeups(worker), len(produced)
    time.sleep(0.5)
    assert wakeups(worker) - before <= 1 and len(produced) == calls
    # Read a block at a time: the read that makes room for a chunk wakes it, at once.
    for _ in range(3):
        calls = len(produced)
        while buffer.room() < buffer.chunk:
            buffer.read(BLOCK)
        wait_for(lambda calls=calls: len(produced) > calls, timeout=2.0)
