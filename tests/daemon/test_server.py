"""The daemon's protocol behaviour, with raw socket clients against a daemon in a thread."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from audiosession.daemon import Daemon, DaemonStartError, DaemonThread
from audiosession.daemon.connected_client import MAX_ERRORS_IN_A_ROW
from audiosession.policy import PolicyConfig
from support.raw_client import Raw


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    runtime = tmp_path / "audiosession"
    runtime.mkdir(mode=0o700)
    server = Daemon(runtime / "daemon.sock", PolicyConfig())
    with DaemonThread(server):
        yield server


def test_the_socket_is_private_to_the_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.delenv("AUDIOSESSION_DAEMON_SOCKET", raising=False)
    with DaemonThread(Daemon(config=PolicyConfig())) as thread:
        path = thread.daemon.socket_path
        assert path == tmp_path / "audiosession" / "daemon.sock"
        assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_ISSOCK(os.stat(path).st_mode)
        with pytest.raises(DaemonStartError, match="already serving"):
            DaemonThread(Daemon(config=PolicyConfig())).start()
    assert not path.exists()


def test_hello_comes_first_and_names_the_version(daemon: Daemon) -> None:
    raw = Raw(daemon.socket_path, hello=False)
    reply = raw.send({"id": 1, "op": "ping"})
    assert not reply["ok"] and "expected hello first" in reply["error"]
    reply = raw.send({"op": "hello", "version": 1, "pid": 1, "program": "t"})
    assert reply["ok"] and reply["version"] == 1 and reply["client"].startswith("c")
    assert raw.request("ping")["ok"]


def test_an_unsupported_version_gets_an_error_and_the_connection_closes(daemon: Daemon) -> None:
    raw = Raw(daemon.socket_path, hello=False)
    reply = raw.send({"op": "hello", "version": 99})
    assert reply == {
        "id": None,
        "ok": False,
        "error": "protocol version 99 is not supported; this daemon speaks version 1",
    }
    assert raw.closed()


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"id": 1, "op": "explode"}, "unknown op 'explode'; expected one of add, remove"),
        ({"id": 2, "op": "add", "args": {"session": "w"}}, "add: missing context, owner"),
        ({"id": 3, "op": "ping", "args": {"x": 1}}, "ping: unknown argument(s) 'x'"),
        (
            {"id": 4, "op": "release", "args": {"session": "nobody"}},
            "release: no session 'nobody' of this client",
        ),
        (
            {"id": 5, "op": "interrupt", "args": {"kind": "forever"}},
            "kind must be 'transient' or 'permanent', not 'forever'",
        ),
        ({"id": [1], "op": "ping"}, "id must be an integer or a short string"),
        ({"id": 6, "op": "ping", "args": [1]}, "args must be a JSON object"),
    ],
)
def test_bad_requests_get_an_error_reply(
    daemon: Daemon, message: dict[str, Any], error: str
) -> None:
    raw = Raw(daemon.socket_path)
    reply = raw.send(message)
    assert reply["ok"] is False and error in reply["error"], reply
    assert reply["id"] == (message["id"] if isinstance(message["id"], int) else None)
    assert raw.request("ping")["ok"]  # and the client is still served


def test_a_client_cannot_touch_another_clients_session(daemon: Daemon) -> None:
    music, other = Raw(daemon.socket_path), Raw(daemon.socket_path)
    music.request("add", session="w1", context="w1", owner="music")
    for name in ("w1", f"{music.client}/w1"):
        reply = other.send(
            {"id": 9, "op": "request_active", "args": {"session": name, "type": "transient-solo"}}
        )
        assert reply["ok"] is False and "of this client" in reply["error"]
    assert [s["state"] for s in music.request("sessions")["sessions"]] == ["inactive"]


def test_a_client_that_keeps_sending_garbage_is_disconnected(daemon: Daemon) -> None:
    raw = Raw(daemon.socket_path)
    for _ in range(MAX_ERRORS_IN_A_ROW - 1):
        raw.send_bytes(b"garbage\n")
        assert raw.next_reply()["ok"] is False
    raw.request("ping")  # a good request resets the count
    for _ in range(MAX_ERRORS_IN_A_ROW):
        raw.send_bytes(b"garbage\n")
    assert raw.closed()
    assert Raw(daemon.socket_path).request("ping")["ok"]


def test_an_oversized_message_gets_an_error_and_the_next_one_is_read(daemon: Daemon) -> None:
    raw = Raw(daemon.socket_path)
    raw.send_bytes(b'{"id": 1, "op": "ping", "pad": "' + b"x" * 200_000 + b'"}\n')
    reply = raw.next_reply()
    assert reply == {"id": None, "ok": False, "error": "message longer than 65536 bytes; discarded"}
    assert raw.request("ping")["ok"]


def test_actions_for_other_clients_are_pushed_to_them(daemon: Daemon) -> None:
    music, ping = Raw(daemon.socket_path), Raw(daemon.socket_path)
    music.request("add", session="w1", context="w1", owner="music")
    reply = music.request("request_active", session="w1", type="playback")
    assert reply["actions"] == [{"do": "state", "session": "w1", "state": "active", "fade": 0.0}]
    ping.request("add", session="w1", context="w1", owner="ping")
    reply = ping.request("request_active", session="w1", type="transient")
    assert reply["actions"] == [{"do": "state", "session": "w1", "state": "active", "fade": 0.0}]
    assert music.next_push() == {
        "push": "actions",
        "actions": [{"do": "gain", "session": "w1", "gain": 0.2, "ramp": 0.1}],
    }
    rows = ping.request("sessions")["sessions"]
    assert [(r["id"], r["state"], r["gain"], r["causes"]) for r in rows] == [
        (f"{music.client}/w1", "active", 0.2, ["ducked by ping"]),
        (f"{ping.client}/w1", "active", 1.0, []),
    ]


def test_a_client_that_goes_away_releases_what_it_held_at_once(daemon: Daemon) -> None:
    music, prompt = Raw(daemon.socket_path), Raw(daemon.socket_path)
    music.request("add", session="w1", context="w1", owner="music")
    music.request("request_active", session="w1", type="playback")
    prompt.request("add", session="w1", context="w1", owner="prompt")
    prompt.request("request_active", session="w1", type="transient-solo")
    assert music.next_push()["actions"][0]["state"] == "interrupted"
    gone = time.monotonic()
    prompt.close()
    push = music.next_push()
    assert push["actions"] == [{"do": "state", "session": "w1", "state": "active", "fade": 0.0}]
    assert time.monotonic() - gone < 0.1


def test_routes_follow_each_clients_own_devices(daemon: Daemon) -> None:
    speakers = {"id": "spk", "label": "Speakers", "kind": "audiooutput", "default": True}
    headset = {"id": "hs", "label": "Headset", "kind": "audiooutput", "roles": ["phone"]}
    a, b = Raw(daemon.socket_path), Raw(daemon.socket_path)
    a.request("set_devices", devices=[speakers, headset])
    b.request("set_devices", devices=[{"id": "wav", "label": "WAV", "kind": "audiooutput"}])
    assert a.request("add", session="w", context="w", owner="a")["actions"] == [
        {"do": "route", "session": "w", "device": "spk"}
    ]
    assert b.request("add", session="w", context="w", owner="b")["actions"] == [
        {"do": "route", "session": "w", "device": "wav"}
    ]
    actions = a.request("request_active", session="w", type="play-and-record")["actions"]
    assert actions[0] == {"do": "route", "session": "w", "device": "hs"}
    actions = a.request("device_removed", device="hs", sessions=["w"])["actions"]
    assert actions == [{"do": "route", "session": "w", "device": "spk"}]
    assert b.pushes == []


def test_an_interruption_ends_when_the_client_that_made_it_goes_away(daemon: Daemon) -> None:
    music, phone = Raw(daemon.socket_path), Raw(daemon.socket_path)
    music.request("add", session="w", context="w", owner="music")
    music.request("request_active", session="w", type="playback")
    phone.request("interrupt", kind="transient", reason="phone call")
    assert music.next_push()["actions"][0]["state"] == "interrupted"
    phone.close()
    assert music.next_push()["actions"][0]["state"] == "active"


def test_a_row_lists_sixteen_causes_and_counts_the_rest(daemon: Daemon) -> None:
    music, pings = Raw(daemon.socket_path), Raw(daemon.socket_path)
    music.request("add", session="w", context="w", owner="music")
    music.request("request_active", session="w", type="playback")
    for i in range(20):
        pings.request("add", session=f"p{i}", context=f"p{i}", owner=f"ping {i}")
        pings.request("request_active", session=f"p{i}", type="transient")
    (row,) = [r for r in pings.request("sessions")["sessions"] if r["owner"] == "music"]
    assert row["causes"] == [f"ducked by ping {i}" for i in range(16)] + ["and 4 more"]
