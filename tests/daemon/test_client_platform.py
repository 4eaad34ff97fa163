"""The daemon client platform, two of them ("two processes") against a daemon in a thread:
pushes, falling back when the daemon goes away, and registering anew when it is back."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from audiosession.daemon import Daemon, DaemonThread
from audiosession.engine.backends.null import NullBackend
from audiosession.loop import ThreadedLoop
from audiosession.platforms.daemon_client import DaemonClientPlatform
from audiosession.platforms.daemon_connection import DaemonConnection
from audiosession.policy import PolicyConfig
from audiosession.types import AudioSessionState, AudioSessionType

ACTIVE = AudioSessionState.ACTIVE
INTERRUPTED = AudioSessionState.INTERRUPTED


class Handle:
    """A session as the platform sees it; records what the platform tells it."""

    def __init__(self, name: str, type: str) -> None:
        self.session_id = name
        self.context_id = name
        self.owner = f"{name} (test)"
        self.type = AudioSessionType(type)
        self.told: list[AudioSessionState] = []

    def platform_state_changed(
        self, state: AudioSessionState, then: Callable[[], None] | None = None
    ) -> None:
        self.told.append(state)
        if then is not None:
            then()


class Process:
    """A loop and a daemon client platform, like one client process."""

    def __init__(self, path: Path) -> None:
        self.loop = ThreadedLoop()
        self.platform = DaemonClientPlatform(
            self.loop,
            DaemonConnection.open(path),
            backend_factory=NullBackend,
            config=PolicyConfig(),
            reconnect_interval=0.05,
        )

    def play(self, handle: Handle) -> AudioSessionState:
        got: list[AudioSessionState] = []
        with self.loop.lock:
            self.platform.register(handle)
            self.platform.set_state(handle, ACTIVE, handle.type, got.append)
        return got[0]

    def state(self, handle: Handle) -> AudioSessionState:
        self.loop.run_until_idle()
        with self.loop.lock:
            return self.platform.state_of(handle.session_id)

    def close(self) -> None:
        self.platform.close()
        self.loop.close()


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "daemon.sock"


@pytest.fixture
def processes(path: Path) -> Iterator[list[Process]]:
    made: list[Process] = []
    yield made
    for process in made:
        process.close()


def test_a_prompt_in_one_client_pauses_the_other_and_releases_it(
    path: Path, processes: list[Process]
) -> None:
    with DaemonThread(Daemon(path, PolicyConfig())):
        a, b = Process(path), Process(path)
        processes += [a, b]
        music, prompt = Handle("window-1", "playback"), Handle("window-1", "transient-solo")
        assert a.play(music) is ACTIVE
        assert b.play(prompt) is ACTIVE
        eventually(lambda: a.state(music) is INTERRUPTED)
        assert music.told == [INTERRUPTED]
        with b.loop.lock:
            b.platform.unregister(prompt)
        eventually(lambda: a.state(music) is ACTIVE)
        assert music.told == [INTERRUPTED, ACTIVE]


def test_without_the_daemon_clients_decide_alone_and_register_anew_when_it_is_back(
    path: Path, processes: list[Process]
) -> None:
    thread = DaemonThread(Daemon(path, PolicyConfig())).start()
    a, b = Process(path), Process(path)
    processes += [a, b]
    music, prompt = Handle("window-1", "playback"), Handle("window-1", "transient-solo")
    a.play(music)
    b.play(prompt)
    eventually(lambda: a.state(music) is INTERRUPTED)
    thread.stop()

    eventually(lambda: not a.platform.connected and not b.platform.connected)
    # Alone, each keeps what it had: the prompt plays on, the music stays held (not burst out).
    assert b.state(prompt) is ACTIVE and a.state(music) is INTERRUPTED
    assert [s.state for s in a.platform.sessions()] == [AudioSessionState.INACTIVE]
    assert [s.state for s in b.platform.sessions()] == [ACTIVE]

    with DaemonThread(Daemon(path, PolicyConfig())) as back:
        eventually(lambda: a.platform.connected and b.platform.connected)
        # Registered anew: the prompt (active) and the music (held) both asked to play; the
        # policy leaves the prompt playing and the music paused, whoever came back first.
        eventually(lambda: a.state(music) is INTERRUPTED and b.state(prompt) is ACTIVE)
        eventually(
            lambda: (
                sorted(row["state"] for row in back.daemon.sessions()) == ["active", "interrupted"]
            )
        )
        # and the prompt's end resumes the music through the new daemon
        with b.loop.lock:
            b.platform.unregister(prompt)
        eventually(lambda: a.state(music) is ACTIVE)
