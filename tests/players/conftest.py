"""The players' tests run in the runtime of a program: its own streams are adopted, as the
process's runtime adopts them, so an adapter's player must stand for its library's streams
alone (adopted a second time, they would be ducked twice)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from audiosession.session.runtime import Runtime
from support.pulse_runtime import runtime_on
from support.pulse_server import PulseServer


@pytest.fixture
def runtime(pulse_server: PulseServer) -> Iterator[Runtime]:
    with runtime_on(pulse_server, adopt_own_streams=True) as runtime:
        adopting = runtime.default_window.navigator.audio_session  # adoption starts with it
        yield runtime
        # (an adopted player given back to its adapter is closed; the list holds it weakly)
        adopted = [type(e).__name__ for e in adopting.elements if not e._released]
        assert adopted == [], f"the library's streams were adopted besides its adapter: {adopted}"
