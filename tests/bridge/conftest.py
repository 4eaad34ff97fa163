"""Real processes for the bridge tests: a private PulseAudio server, the daemon as a
subprocess pointed at it (``PULSE_SERVER``), foreign ``paplay`` streams and client players."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.bridged import Bridged
from support.pulse_server import PulseServer


@pytest.fixture
def bridged(tmp_path: Path, pulse_server: PulseServer) -> Iterator[Bridged]:
    """A running daemon bridged to the private PulseAudio server."""
    processes = Bridged(tmp_path, pulse_server)
    processes.start_daemon()
    try:
        yield processes
    finally:
        processes.close()
