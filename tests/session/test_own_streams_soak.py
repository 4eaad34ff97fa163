"""A program that plays sound after sound through a library of its own does not grow: rounds of
libpulse-simple streams that open, play until the session is active and close, in a real
process on a private PulseAudio. Every other stream is adopted (an ``ExternalPlayer`` made for
it, a follower in the platform's audio, its entry in the stream watcher); the others are
claimed by an ``ExternalPlayer`` of the program's (``streams=``, as an adapter does) that ends
with the stream. Between rounds the process's file descriptors, threads and Python objects are
counted, and the server's clients and sink-inputs."""

from __future__ import annotations

import json
import subprocess
import sys

import support.soak
from support.pulse_server import PulseServer
from support.soak import objects_grown

ROUNDS = 5
SOUNDS = 30

PROGRAM = r"""
import json, os, queue, sys, threading
from audiosession import ExternalPlayer, navigator
from support.own_players import SimpleTone
from support.soak import object_counts, wait_until_none_left

rounds, sounds = int(sys.argv[1]), int(sys.argv[2])
session = navigator.audio_session
session.type = "playback"
states = queue.Queue()
session.add_event_listener("statechange", lambda event: states.put(str(session.state)))

def expect(state):
    seen = states.get(timeout=10)
    if seen != state:
        sys.exit(f"statechange to {seen!r}, not {state!r}")

def claimed_sound():
    player = ExternalPlayer(lambda: None, lambda: None, lambda gain, ramp: None,
                            streams="claimed-player")
    with player, SimpleTone(440, application="claimed-player"):
        player.playing()
        expect("active")
        player.ended()
        expect("inactive")

def adopted_sound():
    with SimpleTone(440, application="adopted-player"):
        expect("active")
    expect("inactive")  # the stream went: its player ended

for _ in range(rounds):
    for sound in range(sounds):
        claimed_sound() if sound % 2 else adopted_sound()
    # The last adopted player is closed on the loop just after it ended.
    wait_until_none_left("ExternalPlayer", 10)
    counts = object_counts()
    print(json.dumps({
        "fds": len(os.listdir("/proc/self/fd")),
        "threads": threading.active_count(),
        "players": counts["ExternalPlayer"],
        "counts": counts,
    }), flush=True)
    sys.stdin.readline()  # the test counts the server's clients meanwhile
"""


def server_usage(server: PulseServer) -> dict[str, int]:
    return {
        "clients": len(server.pactl("list", "short", "clients").splitlines()),
        "sink_inputs": len(server.sink_inputs()),
    }


def test_rounds_of_adopted_and_claimed_streams_leave_nothing_behind(
    pulse_server: PulseServer,
) -> None:
    env = support.soak.env(
        PULSE_SERVER=pulse_server.server_string,
        AUDIOSESSION_BACKEND="pulse",
        AUDIOSESSION_DAEMON="off",
        AUDIOSESSION_OWN_STREAMS="on",
    )
    # A recording keeps the speakers running: a stream that starts on the suspended null sink
    # waits for its first block of two seconds.
    recorder = pulse_server.record("speakers.monitor").start()
    program = subprocess.Popen(
        [sys.executable, "-c", PROGRAM, str(ROUNDS), str(SOUNDS)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    rounds, servers = [], []
    try:
        assert program.stdout is not None and program.stdin is not None
        for _ in range(ROUNDS):
            line = program.stdout.readline()
            assert line, program.communicate(timeout=10)[1]
            rounds.append(json.loads(line))
            servers.append(server_usage(pulse_server))
            program.stdin.write("\n")
            program.stdin.flush()
        _, errors = program.communicate(timeout=30)
    finally:
        if program.poll() is None:
            program.kill()
            program.wait()
        recorder.stop()
    assert program.returncode == 0, errors
    assert errors == ""
    first = rounds[0]
    for later, server in zip(rounds[1:], servers[1:], strict=True):
        assert later["fds"] == first["fds"], rounds
        assert later["threads"] == first["threads"], rounds
        assert later["players"] == 0
        assert server == servers[0], servers
        # A leak of one object a sound is 30 more a round: over 10 % of a kind's count.
        grown = objects_grown(first["counts"], later["counts"], share=0.1)
        assert grown == {}, f"more objects than after the first round: {grown}"
