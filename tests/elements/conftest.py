"""Fixtures shared by the element tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from audiosession.engine.backends.null import NullBackend
from audiosession.loop import ThreadedLoop
from audiosession.platforms.embedded import EmbeddedPlatform
from audiosession.policy import PolicyConfig
from audiosession.session.runtime import Runtime


@pytest.fixture
def real_time_runtime() -> Iterator[Runtime]:
    """A process-like runtime: a dispatcher thread, and a null sink rendering in real time."""
    loop = ThreadedLoop(name="elements-real-time-loop")
    runtime = Runtime(
        loop,
        lambda task_loop: EmbeddedPlatform(
            task_loop, config=PolicyConfig(), backend_factory=NullBackend
        ),
    )
    try:
        yield runtime
    finally:
        runtime.close()
        loop.close()
