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

from support.soak import importing_support, objects_grown

ROUNDS = 5
SOUNDS = 200

PROGRAM = r"""
import json, os, sys, threading
import audiosession
from audiosession import Audio
from audiosession.session.runtime import process_runtime
from support.soak import object_counts, wait_until_none_left

path, rounds, sounds, how = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]

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
    # An ended element goes once its last timeupdate has run (within 0.25 s).
    wait_until_none_left("MediaElement", 15)
    counts = object_counts()
    print(json.dumps({
        "fds": len(os.listdir("/proc/self/fd")),
        "threads": threading.active_count(),
        "elements": counts["MediaElement"],
        "timers": len(process_runtime().loop._timers),
        "counts": counts,
    }), flush=True)
"""


def rounds_of(path: str, how: str) -> list[dict]:
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM, path, str(ROUNDS), str(SOUNDS), how],
        # (the own streams' watcher, trying to reach a sound server every few seconds, has a
        # soak of its own: tests/session/test_own_streams_soak.py)
        env=importing_support(
            {
                **os.environ,
                "AUDIOSESSION_BACKEND": "null",
                "AUDIOSESSION_DAEMON": "off",
                "AUDIOSESSION_OWN_STREAMS": "off",
            }
        ),
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
        # A pause's rest timer waits in the loop until it is due (IDLE_SOURCE_SECONDS), with
        # a weak reference to its element: as many as pauses in the last seconds, each with
        # its arguments and its entry in the loop's heap.
        waiting = later["timers"] - first["timers"]
        waits = {"Timer": waiting, "ReferenceType": waiting, "tuple": 2 * waiting}
        # A leak of one object a sound is 800 more after four rounds: far over 5 %.
        grown = objects_grown(first["counts"], later["counts"], share=0.05, expected=waits)
        assert grown == {}, f"more objects than after the first round: {grown}"


@pytest.mark.parametrize("how", ["to-the-end", "loop"])
def test_rounds_of_short_sounds_leave_nothing_behind(media, how):
    """Each played to its end; or looping, and stopped with ``src = ""``."""
    rounds = rounds_of(media.tone(440, 0.05), how)
    assert len(rounds) == ROUNDS
    assert_flat(rounds)
