"""Driving virtual time while a real-time download runs."""

from __future__ import annotations

import time
from collections.abc import Callable

from audiosession import Audio
from audiosession.elements.network import NetworkSource
from audiosession.testing import VirtualEnvironment


def network_source(audio: Audio) -> NetworkSource:
    """The element's network source (to wait for its download; tests only)."""
    playing = audio._source
    assert playing is not None, f"{audio!r} has no source"
    source = playing.source
    assert isinstance(source, NetworkSource), f"{audio!r} does not play a URL"
    return source


def advance_fed(
    env: VirtualEnvironment, audio: Audio, seconds: float, timeout: float = 10.0
) -> None:
    """Advance virtual time block by block, first waiting (in real time) before each block
    until the element's source has that block decoded: rendering never outruns the network."""
    step = env.block_duration
    for _ in range(round(seconds / step)):
        playing = audio._source
        if playing is not None and isinstance(playing.source, NetworkSource):
            assert playing.source.wait_ready(step, timeout), f"no data for {audio.src}"
        env.advance(step)


def advance_realtime(env: VirtualEnvironment, seconds: float) -> None:
    """Advance virtual time no faster than the wall clock: the network gets its real time."""
    began, start = time.monotonic(), env.now
    step = env.block_duration
    for _ in range(round(seconds / step)):
        ahead = (env.now + step - start) - (time.monotonic() - began)
        if ahead > 0:
            time.sleep(ahead)
        env.advance(step)


def run_until(
    env: VirtualEnvironment, predicate: Callable[[], bool], timeout: float = 10.0
) -> None:
    """Run the loop's tasks (virtual time stands still) until ``predicate()`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        env.run_until_idle()
        if predicate():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {predicate}")
        time.sleep(0.005)
