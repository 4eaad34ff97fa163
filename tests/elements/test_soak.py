"""A program that plays sound after sound does not grow: rounds of short sounds played to their
end in a real process (the null backend, in real time, as a game or a notifier on a machine
without a sound card), with file descriptors, threads and Python objects counted between
rounds. The daemon's side (``play_file``) is in tests/daemon/test_soak.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROUNDS = 5
SOUNDS = 200

PROGRAM = r"""
import collections, gc, json, os, sys, threading, time
import audiosession
from audiosession import Audio

path, rounds, sounds, how = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]

def media_elements():
    return sum(1 for o in gc.get_objects() if type(o).__name__ == "MediaElement")

def quiet():
    # Ended elements go once their last timer has run (a timeupdate, within 0.25 s; a
    # paused one's, IDLE_SOURCE_SECONDS).
    deadline = time.monotonic() + 15
    while media_elements() and time.monotonic() < deadline:
        gc.collect()
        time.sleep(0.02)  # the dispatcher thread runs those timers meanwhile
    gc.collect()

for _ in range(rounds):
    elements = []
    for _ in range(sounds):
        element = Audio(path)
        element.loop = how == "loop"
        element.play()
        elements.append(element)
    for element in elements:
        if how == "loop":
            audiosession.run(until=element.play())
            element.src = ""
        else:
            audiosession.run(until=element)
    del elements, element
    quiet()
    counts = collections.Counter(type(o).__name__ for o in gc.get_objects())
    print(json.dumps({
        "fds": len(os.listdir("/proc/self/fd")),
        "threads": threading.active_count(),
        "elements": counts["MediaElement"],
        "counts": counts,
    }), flush=True)
"""


def rounds_of(path: str, how: str) -> list[dict]:
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM, path, str(ROUNDS), str(SOUNDS), how],
        env={**os.environ, "AUDIOSESSION_BACKEND": "null", "AUDIOSESSION_DAEMON": "off"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return [json.loads(line) for line in result.stdout.splitlines()]


def assert_flat(rounds: list[dict]) -> None:
    first = rounds[0]
    for later in rounds[1:]:
        assert later["fds"] == first["fds"]
        assert later["threads"] == first["threads"]
        assert later["elements"] == 0
        grown = {
            name: count - first["counts"].get(name, 0)
            for name, count in later["counts"].items()
            # A leak of one object a sound is 800 more after four rounds: far over 5 %.
            if count > first["counts"].get(name, 0) + max(10, first["counts"].get(name, 0) // 20)
            # A pause's rest timer waits in the loop until it is due (IDLE_SOURCE_SECONDS),
            # with a weak reference to its element: as many as pauses in the last seconds.
            and not (name in ("Timer", "ReferenceType") and count <= first["counts"][name] + SOUNDS)
        }
        assert grown == {}, f"more objects than after the first round: {grown}"


@pytest.mark.parametrize("how", ["to-the-end", "loop"])
def test_rounds_of_short_sounds_leave_nothing_behind(media, how):
    """Each played to its end; or looping, and stopped with ``src = ""``."""
    rounds = rounds_of(media.tone(440, 0.05), how)
    assert len(rounds) == ROUNDS
    assert_flat(rounds)
