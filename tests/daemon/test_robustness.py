"""The daemon never dies of a client: floods of bad messages and random byte streams against a
real daemon process leave it serving its good clients."""

from __future__ import annotations

import signal
import socket
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audiosession.daemon.connected_client import LOGGED_ERRORS_PER_CLIENT, MAX_ERRORS_IN_A_ROW
from support.daemon import DaemonProcess
from support.raw_client import Raw

BAD_MESSAGES = [
    b"not json",
    b"{",
    b"[]",
    b'"a string"',
    b"\xff\xfe\x00",
    b"",
    b"[" * 50_000,
    b'{"n": ' + b"9" * 6000 + b"}",
    b'{"id": 1, "op": "explode"}',
    b'{"id": 2, "op": "add", "args": {}}',
    b'{"id": 3, "op": "release", "args": {"session": "c1/music"}}',
    b'{"id": 4, "op": "request_active", "args": {"session": "nope", "type": "loud"}}',
    b'{"id": true, "op": "ping"}',
    b'{"id": 5, "op": "hello", "version": 1}',
    b'{"id": 6, "op": "set_devices", "args": {"devices": [{"id": 1}]}}',
    b'{"id": 7, "op": "interrupt", "args": {"kind": "transient", "reason": ""}}',
    b"x" * 70_000,  # over the size limit
]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    tmp = tmp_path_factory.mktemp("robust")
    runtime = tmp / "run"
    runtime.mkdir(mode=0o700)
    config = tmp / "config"
    config.mkdir()
    process = DaemonProcess(runtime, config, tmp / "daemon.log").start()
    yield process
    process.kill(signal.SIGTERM)


@pytest.fixture(scope="module")
def good(daemon: DaemonProcess) -> Iterator[Raw]:
    """A well-behaved client holding an active playback session."""
    client = Raw(daemon.socket)
    client.request("add", session="music", context="music", owner="good client")
    assert client.request("request_active", session="music", type="playback")["ok"]
    yield client
    client.close()


def still_serving(daemon: DaemonProcess, good: Raw) -> None:
    assert daemon.alive(), daemon.log()[-3000:]
    rows = good.request("sessions")["sessions"]
    assert [(r["owner"], r["state"]) for r in rows] == [("good client", "active")]


def test_ten_thousand_malformed_or_oversized_messages_leave_the_daemon_serving(
    daemon: DaemonProcess, good: Raw
) -> None:
    sent = 0
    batch = MAX_ERRORS_IN_A_ROW - 1
    # Clients that mix bad messages with good ones stay connected and get every error.
    while sent < 9_000:
        raw = Raw(daemon.socket)
        for _ in range(50):
            chunk = [BAD_MESSAGES[(sent + i) % len(BAD_MESSAGES)] for i in range(batch)]
            raw.send_bytes(b"\n".join(chunk) + b'\n{"id": "ok", "op": "ping"}\n')
            sent += batch
            replies = [raw.next_reply() for _ in range(batch + 1)]
            assert [r["ok"] for r in replies] == [False] * batch + [True]
        raw.close()
    # Clients that send nothing but garbage are cut off after MAX_ERRORS_IN_A_ROW.
    mark = len(daemon.log())
    while sent < 10_000:
        raw = Raw(daemon.socket)
        try:
            raw.send_bytes(b"\n".join(BAD_MESSAGES[:MAX_ERRORS_IN_A_ROW]) * 3 + b"\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        sent += MAX_ERRORS_IN_A_ROW
        raw.close()
    still_serving(daemon, good)
    daemon.wait_log("in a row: disconnecting it", since=mark)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(hello=st.booleans(), chunks=st.lists(st.binary(max_size=3000), max_size=8))
def test_random_byte_streams_leave_the_daemon_serving(
    daemon: DaemonProcess, good: Raw, hello: bool, chunks: list[bytes]
) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(2)
        sock.connect(str(daemon.socket))
        try:
            if hello:
                sock.sendall(b'{"op": "hello", "version": 1}\n')
            for chunk in chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # dropped for its garbage: fine
    still_serving(daemon, good)


def test_a_client_that_never_reads_its_replies_is_dropped_not_buffered(
    daemon: DaemonProcess, good: Raw
) -> None:
    mark = len(daemon.log())
    raw = Raw(daemon.socket)
    raw.sock.settimeout(10)
    request = b'{"id": 1, "op": "sessions"}\n' * 1000
    try:
        for _ in range(200):
            raw.send_bytes(request)
    except (BrokenPipeError, ConnectionResetError, TimeoutError):
        pass
    raw.close()
    still_serving(daemon, good)
    daemon.wait_log("does not read its messages", since=mark)


def test_the_log_counts_rather_than_floods(daemon: DaemonProcess) -> None:
    mark = len(daemon.log())
    raw = Raw(daemon.socket)
    for _ in range(LOGGED_ERRORS_PER_CLIENT + 5):  # fewer than MAX_ERRORS_IN_A_ROW
        raw.send_bytes(b"garbage\n")
        assert raw.next_reply()["ok"] is False  # each error is logged before it is answered
    raw.close()
    lines = [line for line in daemon.log()[mark:].splitlines() if f"client {raw.client} (" in line]
    assert sum("malformed JSON" in line for line in lines) == LOGGED_ERRORS_PER_CLIENT
    assert sum("further errors are counted, not logged" in line for line in lines) == 1
    assert daemon.log().count("\n") < 20_000  # after the floods of the tests before


def test_a_crowd_connecting_while_the_daemon_is_held_up_is_served_once_it_runs(
    daemon: DaemonProcess,
) -> None:
    # 300 processes starting at once (a login) while the daemon cannot run (SIGSTOP stands in
    # for a busy machine): each connection waits in the accept queue, none is turned away.
    assert daemon.proc is not None
    crowd = []
    daemon.proc.send_signal(signal.SIGSTOP)
    try:
        for _ in range(300):
            sock = socket.socket(socket.AF_UNIX)
            sock.setblocking(False)
            crowd.append(sock)
            sock.connect(str(daemon.socket))  # BlockingIOError once the accept queue is full
    finally:
        daemon.proc.send_signal(signal.SIGCONT)
    try:
        for sock in crowd:
            sock.settimeout(10)
            sock.sendall(b'{"op": "hello", "version": 1, "program": "crowd"}\n')
        for sock in crowd:
            assert b'"ok":true' in sock.recv(4096)
    finally:
        for sock in crowd:
            sock.close()
