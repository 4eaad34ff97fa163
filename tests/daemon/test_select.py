"""Which platform a process gets: ``AUDIOSESSION_DAEMON=off|auto|required``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from audiosession.daemon import Daemon, DaemonThread
from audiosession.loop import ThreadedLoop
from audiosession.platforms.daemon_client import DaemonClientPlatform
from audiosession.platforms.daemon_connection import DaemonUnavailableError
from audiosession.platforms.embedded import EmbeddedPlatform
from audiosession.platforms.select import daemon_mode, default_platform_factory
from audiosession.policy import PolicyConfig


@pytest.fixture
def loop() -> Iterator[ThreadedLoop]:
    task_loop = ThreadedLoop()
    yield task_loop
    task_loop.close()


@pytest.fixture
def socket_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "daemon.sock"
    monkeypatch.setenv("AUDIOSESSION_DAEMON_SOCKET", str(path))
    monkeypatch.setenv("AUDIOSESSION_BACKEND", "null")
    return path


@pytest.mark.parametrize(
    ("value", "mode"),
    [
        (None, "auto"),
        ("", "auto"),
        ("off", "off"),
        ("AUTO", "auto"),
        (" required ", "required"),
    ],
)
def test_the_mode_comes_from_the_environment(value: str | None, mode: str) -> None:
    env = {} if value is None else {"AUDIOSESSION_DAEMON": value}
    assert daemon_mode(env) == mode


def test_an_unknown_mode_names_the_right_ones() -> None:
    with pytest.raises(
        ValueError, match="'sometimes' is not a valid value; use off, auto or required"
    ):
        daemon_mode({"AUDIOSESSION_DAEMON": "sometimes"})


def test_auto_without_a_daemon_is_embedded_and_says_so_once(
    loop: ThreadedLoop,
    socket_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("AUDIOSESSION_DAEMON", "auto")
    with caplog.at_level(logging.INFO, logger="audiosession.platforms.select"):
        platform = default_platform_factory(loop)
    assert isinstance(platform, EmbeddedPlatform)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "no audiosession daemon" in lines[0] and "embedded" in lines[0]


def test_required_without_a_daemon_fails_saying_how_to_start_one(
    loop: ThreadedLoop, socket_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUDIOSESSION_DAEMON", "required")
    with pytest.raises(
        DaemonUnavailableError, match=f"no daemon socket at {socket_path}.*audiosession daemon"
    ):
        default_platform_factory(loop)


@pytest.mark.parametrize("mode", ["auto", "required"])
def test_a_running_daemon_is_used(
    loop: ThreadedLoop, socket_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    monkeypatch.setenv("AUDIOSESSION_DAEMON", mode)
    with DaemonThread(Daemon(socket_path, PolicyConfig())) as thread:
        platform = default_platform_factory(loop)
        try:
            assert isinstance(platform, DaemonClientPlatform)
            assert platform.connected and platform.client_id in thread.daemon.clients
        finally:
            platform.close()


def test_off_never_looks_for_the_daemon(
    loop: ThreadedLoop, socket_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUDIOSESSION_DAEMON", "off")
    with DaemonThread(Daemon(socket_path, PolicyConfig())) as thread:
        assert isinstance(default_platform_factory(loop), EmbeddedPlatform)
        assert thread.daemon.clients == {}
