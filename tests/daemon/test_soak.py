"""The daemon plays sound after sound for clients that come and go and does not grow: rounds of
short sounds (``play_file``, as ``audiosession notify`` asks) through a real daemon process on
the null backend, a new client connection each round, with the daemon's file descriptors,
threads and resident memory read from /proc between rounds. The embedded side is in
tests/elements/test_soak.py."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from audiosession.daemon.player import MAX_SOUNDS_PER_CLIENT
from support.audio import Media
from support.daemon import DaemonProcess, Processes
from support.raw_client import Raw, sound_event
from support.soak import usage

ROUNDS = 5
SOUNDS = 200

RSS_MARGIN = 512 << 10
"""Bytes the daemon's resident memory may grow by from the second round to the fifth. Freed
memory stays with the process (glibc keeps it in its arenas), and the figure creeps up in
steps: in a soak of 30 000 sounds through the daemon it rose by about 0.1 MiB a thousand sounds
(flat from 12 000 to 24 000), as much as before elements were released, while the Python heap
(tracemalloc) stayed within 12 KB over 5 000 sounds. These rounds grow by 100 to 160 KB (10
runs). A sound kept for good (the decoded 50 ms tone alone is 19 KB) would be over 10 MB."""

EXECUTOR_WORKERS = min(32, (os.cpu_count() or 1) + 4)
"""Threads asyncio's default executor may run in the daemon for its blocking work (opening the
engine, then each sound): it starts one whenever it finds none idle, up to this many, so how
many a round leaves depends on the machine's timing (5 to 9 threads in all, in 10 runs), but
never more. One opened the engine before the daemon listened; the sounds' audio thread starts
with the first sound: so the daemon runs at most as many threads as at its start, plus these."""


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    """A daemon process playing sounds on the null backend (no sound server, no bridge)."""
    processes = Processes(tmp_path)
    processes.daemon.env["AUDIOSESSION_BACKEND"] = "null"
    processes.daemon.args = ["--no-pulse-bridge"]
    processes.daemon.start()
    try:
        yield processes.daemon
    finally:
        processes.close()


def play_a_round(daemon: DaemonProcess, tone: str) -> None:
    """``SOUNDS`` sounds, as many at once as a client may play, each to its ``ended`` push,
    from a new connection that then goes away."""
    raw = Raw(daemon.socket)
    for first in range(0, SOUNDS, MAX_SOUNDS_PER_CLIENT):
        batch = range(first, min(first + MAX_SOUNDS_PER_CLIENT, SOUNDS))
        sessions = [raw.request("play_file", path=tone)["session"] for _ in batch]
        for session in sessions:
            assert sound_event(raw, session)["event"] == "started"
            assert sound_event(raw, session)["event"] == "ended"
    since = len(daemon.log())
    raw.close()
    daemon.wait_log(f"client {raw.client} (pid {os.getpid()}, raw) disconnected", since=since)


def test_rounds_of_sounds_from_clients_that_come_and_go_leave_nothing_behind(
    daemon: DaemonProcess, media: Media
) -> None:
    tone = media.tone(440, 0.05)
    assert daemon.proc is not None
    at_start = usage(daemon.proc.pid)
    rounds = []
    for _ in range(ROUNDS):
        play_a_round(daemon, tone)
        rounds.append(usage(daemon.proc.pid))
    for later in rounds[1:]:
        assert later["fds"] == rounds[0]["fds"], rounds
    assert all(r["threads"] <= at_start["threads"] + EXECUTOR_WORKERS for r in rounds), rounds
    assert rounds[-1]["rss"] - rounds[1]["rss"] <= RSS_MARGIN, rounds
