"""Run a documented example as its reader would: a fresh interpreter, only the imports it shows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

STATE_REACHED = '''
import concurrent.futures as _futures


def state_reached(wanted):
    """A future set once the default window's session is in state ``wanted``."""
    reached = _futures.Future()

    def check(event=None):
        if navigator.audio_session.state == wanted and not reached.done():
            reached.set_result(wanted)

    navigator.audio_session.add_event_listener("statechange", check)
    check()
    return reached
'''
"""Appended to an example that imports ``navigator``: ``state_reached(state)``, for
``audiosession.run(until=state_reached("interrupted"))``."""


def run_example(
    script: str, cwd: Path, *, timeout: float = 60, **environment: str
) -> subprocess.CompletedProcess[str]:
    """``script`` run by ``python -c`` in ``cwd``: embedded mode, no user configuration, on the
    null backend unless ``environment`` names another (``AUDIOSESSION_BACKEND="wav:out.wav"``)."""
    env = {key: value for key, value in os.environ.items() if key != "AUDIOSESSION_FAKE_MIC"}
    env.update(
        AUDIOSESSION_BACKEND="null", AUDIOSESSION_DAEMON="off", AUDIOSESSION_CONFIG=os.devnull
    )
    env.update(environment)
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
