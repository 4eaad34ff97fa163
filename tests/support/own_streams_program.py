"""A program that plays sound after sound through a library of its own, for the soaks of its
own streams (tests/session/test_own_streams_soak.py, tests/bridge/test_own_streams_daemon.py):

    python own_streams_program.py ROUNDS SOUNDS

Sets its type to ``playback`` and plays ROUNDS rounds of SOUNDS libpulse-simple tones, each
until its session is active. Every other tone is adopted; the others are claimed by an
``ExternalPlayer`` of its own (``streams=``, as an adapter does) that ends with the tone. After
each round, one line on stdout: its file descriptors, threads, ``ExternalPlayer`` objects and
Python objects by class; then it waits for a line on stdin. Needs ``tests`` on its path."""

from __future__ import annotations

import json
import os
import queue
import sys
import threading

from audiosession import ExternalPlayer, navigator
from support.own_players import SimpleTone
from support.soak import object_counts, wait_until_none_left

session = navigator.audio_session
session.type = "playback"
states: queue.Queue[str] = queue.Queue()
session.add_event_listener("statechange", lambda event: states.put(str(session.state)))


def expect(state: str) -> None:
    seen = states.get(timeout=10)
    if seen != state:
        sys.exit(f"statechange to {seen!r}, not {state!r}")


def claimed_sound() -> None:
    player = ExternalPlayer(
        lambda: None, lambda: None, lambda gain, ramp: None, streams="claimed-player"
    )
    with player, SimpleTone(440, application="claimed-player"):
        player.playing()
        expect("active")
        player.ended()
        expect("inactive")


def adopted_sound() -> None:
    with SimpleTone(440, application="adopted-player"):
        expect("active")
    expect("inactive")  # the stream went: its player ended


def main(rounds: int, sounds: int) -> None:
    for _ in range(rounds):
        for sound in range(sounds):
            if sound % 2:
                claimed_sound()
            else:
                adopted_sound()
        # The last adopted player is closed on the loop just after it ended.
        wait_until_none_left("ExternalPlayer", 10)
        counts = object_counts()
        usage = {
            "fds": len(os.listdir("/proc/self/fd")),
            "threads": threading.active_count(),
            "players": counts["ExternalPlayer"],
            "counts": counts,
        }
        print(json.dumps(usage), flush=True)
        sys.stdin.readline()  # the test counts the server's clients meanwhile


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
