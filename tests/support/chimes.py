"""Chimes played on a real server and what of them was heard, for the tests of how sounds end."""

from __future__ import annotations

import threading

import numpy as np

from audiosession import Audio, Window
from audiosession.session.runtime import Runtime
from support.audio import loud_runs
from support.pulse_server import PulseServer


def chimes_heard(runtime: Runtime, pulse_server: PulseServer, *paths: str) -> np.ndarray:
    """The sink monitor's recording of ``paths`` played as ``transient`` elements of one
    window, each started by the ``ended`` event of the one before (while that one's stream
    still plays out its end), until everything has played out."""
    window = Window(runtime=runtime)
    window.navigator.audio_session.type = "transient"
    elements = [Audio(path, window=window) for path in paths]
    for before, after in zip(elements, elements[1:], strict=False):
        before.addEventListener("ended", lambda event, after=after: after.play())
    ended = threading.Event()
    elements[-1].addEventListener("ended", lambda event: ended.set())
    recorder = pulse_server.record("speakers.monitor")
    try:
        elements[0].play().result(5)
        assert ended.wait(5)
        return recorder.stop_when_quiet()
    finally:
        recorder.stop()


def last_note(heard: np.ndarray) -> tuple[float, float]:
    """The silence before the last chime's last note and that note's length, in seconds (a
    chime's are 0.05 and 0.1 when it was played to its end)."""
    *_, (_, gap_start), (last_start, last_end) = loud_runs(heard)
    return last_start - gap_start, last_end - last_start
