"""Fixtures for tests against a real (private) PulseAudio server."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from audiosession.engine.backends.pulse.backend import PulseBackend
from audiosession.loop import ThreadedLoop
from audiosession.platforms.embedded import EmbeddedPlatform
from audiosession.policy import PolicyConfig
from audiosession.session.runtime import Runtime
from support.pulse_server import PulseServer


@pytest.fixture(scope="module")
def backend(pulse_server: PulseServer) -> Iterator[PulseBackend]:
    """Our PulseAudio backend, connected to the private server."""
    b = PulseBackend(server=pulse_server.server_string)
    try:
        yield b
    finally:
        b.close()


@contextlib.contextmanager
def runtime_on(server: PulseServer, *, adopt_own_streams: bool = False) -> Iterator[Runtime]:
    """A process-like runtime (real clock, dispatcher thread) on ``server``, closed after;
    ``adopt_own_streams`` as the process's runtime does."""
    loop = ThreadedLoop(name="pulse-test-loop")

    def platform(task_loop):
        return EmbeddedPlatform(
            task_loop,
            config=PolicyConfig(),
            backend_factory=lambda: PulseBackend(server=server.server_string),
        )

    runtime = Runtime(loop, platform, adopt_own_streams=adopt_own_streams)
    try:
        yield runtime
    finally:
        runtime.close()
        loop.close()


@pytest.fixture
def runtime(pulse_server: PulseServer) -> Iterator[Runtime]:
    """A process-like runtime (real clock, dispatcher thread) on the private server."""
    with runtime_on(pulse_server) as runtime:
        yield runtime
