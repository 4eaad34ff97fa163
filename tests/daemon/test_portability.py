"""The daemon's portable parts: peer credentials of a real connection, and Windows' one line."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from audiosession.loop import ThreadedLoop
from audiosession.platforms.daemon_connection import DaemonUnavailableError
from audiosession.platforms.embedded import EmbeddedPlatform
from audiosession.platforms.select import default_platform_factory
from audiosession.wire.peercred import PeerCredentials, peer_credentials

CONNECT = """
import socket, sys
client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
client.connect(sys.argv[1])
client.recv(1)  # until the test closes its end
"""


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no Unix sockets here")
def test_peer_credentials_name_the_connected_process(tmp_path: Path) -> None:
    path = str(tmp_path / "peer.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen(1)
        child = subprocess.Popen([sys.executable, "-c", CONNECT, path])
        try:
            server.settimeout(10)
            connection, _ = server.accept()
            with connection:
                credentials = peer_credentials(connection)
        finally:
            child.wait(timeout=10)
    assert credentials == PeerCredentials(child.pid, os.getuid(), os.getgid())
    assert credentials.pid != os.getpid()


@pytest.fixture
def loop() -> Iterator[ThreadedLoop]:
    task_loop = ThreadedLoop()
    yield task_loop
    task_loop.close()


def test_on_windows_programs_are_embedded_and_one_line_says_why(
    loop: ThreadedLoop, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AUDIOSESSION_BACKEND", "null")
    monkeypatch.setenv("AUDIOSESSION_DAEMON", "auto")
    monkeypatch.setattr(sys, "platform", "win32")
    with caplog.at_level(logging.INFO, logger="audiosession.platforms.select"):
        platform = default_platform_factory(loop)
    monkeypatch.undo()
    assert isinstance(platform, EmbeddedPlatform)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and lines[0].startswith("Windows: no audiosession daemon")
    assert "embedded mode" in lines[0]
    platform.close()


def test_on_windows_a_required_daemon_fails_saying_so(
    loop: ThreadedLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUDIOSESSION_DAEMON", "required")
    monkeypatch.setattr(sys, "platform", "win32")
    with pytest.raises(DaemonUnavailableError, match="does not run on Windows"):
        default_platform_factory(loop)
