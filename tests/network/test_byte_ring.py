"""The byte ring between a download and its decoder, and the PCM queue after the decoder, on
their own: no network, no decoder — a writer thread plays the download."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

from audiosession.elements.byte_ring import HEAD_BYTES, ByteRing, RingFile
from audiosession.elements.pcm_queue import PcmQueue

CAPACITY = 64 << 10
BODY = (
    np.random.default_rng(7).integers(0, 256, HEAD_BYTES + 8 * CAPACITY, dtype=np.uint8).tobytes()
)


def eventually(check: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Wait (polling the ring's state) until ``check()`` holds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.002)


def download(ring: ByteRing, offset: int = 0, chunk: int = 1000) -> threading.Thread:
    """A thread writing ``BODY`` from ``offset`` into ``ring`` as a download does."""

    def run() -> None:
        position = offset
        while position < len(BODY):
            part = BODY[position : position + chunk]
            if not ring.write(part, position):
                return
            position += len(part)
        with ring.cond:
            ring.done = True
            ring.cond.notify_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def a_ring() -> tuple[ByteRing, RingFile]:
    ring = ByteRing(CAPACITY)
    ring.length = len(BODY)
    body = RingFile(ring, "test body")
    body.opening = False
    return ring, body


def test_the_decoder_reads_the_whole_body_through_a_ring_smaller_than_it() -> None:
    ring, body = a_ring()
    writer = download(ring)
    read = bytearray()
    while part := body.read(4096):
        read += part
        assert ring.high - ring.low <= CAPACITY  # never more than the ring in memory
    writer.join(5)
    assert bytes(read) == BODY
    assert len(ring.data) == CAPACITY and len(ring.head) == HEAD_BYTES


def test_the_writer_waits_while_the_ring_is_full_and_stops_when_it_closes() -> None:
    ring, _ = a_ring()
    writer = download(ring)
    eventually(
        lambda: ring.high == CAPACITY and not ring.fetching,
        "the writer has filled the ring and waits",
    )
    assert writer.is_alive() and ring.low == 0
    with ring.cond:
        ring.closed = True
        ring.cond.notify_all()
    writer.join(5)
    assert not writer.is_alive() and ring.high == CAPACITY


def test_a_short_seek_back_reads_the_kept_quarter_without_a_new_request() -> None:
    ring, body = a_ring()
    ring.ranges = True
    download(ring)
    body.seek(HEAD_BYTES + 4 * CAPACITY)
    assert body.read(4096) == BODY[HEAD_BYTES + 4 * CAPACITY :][:4096]
    eventually(lambda: not ring.fetching, "the ring is full again")
    back = body.tell() - CAPACITY // 4
    body.seek(back)
    assert body.read(4096) == BODY[back : back + 4096]
    assert ring.restart_at is None


def test_a_read_behind_the_ring_asks_a_server_with_ranges_to_start_again_there() -> None:
    ring, body = a_ring()
    ring.ranges = True
    first = download(ring)
    far = HEAD_BYTES + 6 * CAPACITY
    body.seek(far)
    assert body.read(100) == BODY[far : far + 100]
    behind = HEAD_BYTES + 1000  # long overwritten by now
    body.seek(behind)
    result: list[bytes] = []
    reader = threading.Thread(target=lambda: result.append(body.read(100)), daemon=True)
    reader.start()
    eventually(lambda: ring.restart_at == behind, "the reader asks for a new request")
    first.join(5)  # the writer stops at the request for another place
    assert not first.is_alive() and reader.is_alive()
    with ring.cond:  # what the download does with it
        ring.restart_at = None
        ring.reset(behind)
    download(ring, offset=behind)
    reader.join(5)
    assert result == [BODY[behind : behind + 100]]


def test_a_read_behind_the_ring_without_ranges_is_unreachable_not_a_wait() -> None:
    ring, body = a_ring()
    download(ring)
    far = HEAD_BYTES + 6 * CAPACITY
    body.seek(far)
    assert body.read(100) == BODY[far : far + 100]
    body.seek(HEAD_BYTES + 1000)
    assert body.read(100) == b""
    assert body.unreachable == (
        f"byte {HEAD_BYTES + 1000} is no longer buffered and the "
        "server does not support range requests"
    )


def test_a_peek_at_the_end_while_opening_gets_zeros_at_once() -> None:
    ring, body = a_ring()
    body.opening = True
    body.seek(-128, 2)  # libsndfile looks for a tag at the end
    assert body.read(128) == bytes(128)
    assert ring.high == 0  # nothing was downloaded, nothing was waited for


def test_the_pcm_queue_gives_frames_in_order_across_blocks() -> None:
    queue = PcmQueue()
    frames = np.arange(20, dtype=np.float32).reshape(10, 2)
    queue.append(frames[:3])
    queue.append(frames[3:])
    out = np.zeros((4, 2), dtype=np.float32)
    assert queue.take(out) == 4 and np.array_equal(out, frames[:4])
    assert queue.frames == 6 and not queue.ended
    queue.complete = True
    rest = np.zeros((8, 2), dtype=np.float32)
    assert queue.take(rest) == 6 and np.array_equal(rest[:6], frames[4:])
    assert queue.ended


def test_a_seek_drops_the_decoded_frames_and_makes_older_blocks_stale() -> None:
    queue = PcmQueue()
    queue.append(np.ones((5, 2), dtype=np.float32))
    queue.complete = True
    before = queue.generation
    queue.restart_at(12.5)
    assert (queue.frames, queue.complete, queue.seek_to) == (0, False, 12.5)
    assert queue.generation == before + 1
    assert queue.take(np.zeros((4, 2), dtype=np.float32)) == 0


@pytest.mark.parametrize("chunk", [7, 4096, CAPACITY + 5])
def test_chunks_of_any_size_arrive_whole(chunk: int) -> None:
    ring, body = a_ring()
    size = HEAD_BYTES + 2 * CAPACITY
    ring.length = size
    download(ring, chunk=chunk)
    read = bytearray()
    while part := body.read(CAPACITY // 3):
        read += part
    assert bytes(read) == BODY[:size]
