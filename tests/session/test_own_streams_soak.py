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
from pathlib import Path

import support
from support.pulse_server import PulseServer
from support.soak import importing_support, objects_grown, server_usage

ROUNDS = 5
SOUNDS = 30

PROGRAM = Path(support.__file__).with_name("own_streams_program.py")


def test_rounds_of_adopted_and_claimed_streams_leave_nothing_behind(
    pulse_server: PulseServer,
) -> None:
    env = importing_support(
        {
            **pulse_server.env,
            "AUDIOSESSION_BACKEND": "pulse",
            "AUDIOSESSION_DAEMON": "off",
            "AUDIOSESSION_OWN_STREAMS": "on",
        }
    )
    # A recording keeps the speakers running: a stream that starts on the suspended null sink
    # waits for its first block of two seconds.
    recorder = pulse_server.record("speakers.monitor").start()
    program = subprocess.Popen(
        [sys.executable, str(PROGRAM), str(ROUNDS), str(SOUNDS)],
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
