"""The daemon's service on its own, without a socket: lines in, replies and pushes out.

The same policy and validation the socket tests exercise (test_server.py), driven through
``DaemonService.receive`` and read back from ``take_output``: what each client would be sent.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest

from audiosession.daemon.connected_client import MAX_ERRORS_IN_A_ROW, ConnectedClient
from audiosession.daemon.service import DaemonService
from audiosession.policy import PolicyConfig
from audiosession.wire.protocol import MAX_MESSAGE, OPERATION_ARGS


class Service:
    """A ``DaemonService`` and its clients, spoken to in lines as the transport does."""

    def __init__(self) -> None:
        self.service = DaemonService(PolicyConfig())
        self.ids = 0

    def connect(self, program: str, pid: int) -> ConnectedClient:
        client = self.service.connect(pid, os.getuid())
        self.service.receive(
            client,
            json.dumps(
                {"op": "hello", "version": 1, "program": program, "features": ["ping"]}
            ).encode(),
        )
        [(to, data)] = self.service.take_output()
        assert to is client and json.loads(data)["ok"], data
        return client

    def sent(self) -> dict[str, list[dict[str, Any]]]:
        """What the service queued since, by client id, decoded."""
        return {
            client.id: [json.loads(line) for line in data.splitlines()]
            for client, data in self.service.take_output()
        }

    def request(
        self, client: ConnectedClient, op: str, **args: Any
    ) -> dict[str, list[dict[str, Any]]]:
        self.ids += 1
        self.service.receive(client, json.dumps({"id": self.ids, "op": op, "args": args}).encode())
        return self.sent()


def actions(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The actions in a client's pushes, in order."""
    return [
        action
        for message in messages
        if message.get("push") == "actions"
        for action in message["actions"]
    ]


@pytest.fixture
def daemon() -> Service:
    return Service()


def test_every_operation_of_the_wire_format_has_one_handler() -> None:
    assert list(DaemonService.HANDLERS) == list(OPERATION_ARGS)


def test_a_notification_ducks_another_clients_music_by_a_push(daemon: Service) -> None:
    music, chime = daemon.connect("player.py", 100), daemon.connect("chat.py", 200)
    daemon.request(music, "add", session="w1", context="w1", owner="music", type="playback")
    daemon.request(music, "request_active", session="w1", type="playback")
    daemon.request(chime, "add", session="w1", context="w1", owner="chat", type="transient")
    sent = daemon.request(chime, "request_active", session="w1", type="transient")
    [reply] = sent[chime.id]
    assert (
        reply["ok"]
        and {"do": "state", "session": "w1", "state": "active", "fade": 0.0} in reply["actions"]
    )
    assert actions(sent[music.id]) == [{"do": "gain", "session": "w1", "gain": 0.2, "ramp": 0.1}]
    # the chime's client is gone: the music comes back up, told by a push
    daemon.service.disconnect(chime, "disconnected")
    assert actions(daemon.sent()[music.id]) == [
        {"do": "gain", "session": "w1", "gain": 1.0, "ramp": 0.5}
    ]


def test_a_client_that_stops_answering_releases_what_it_held_until_it_answers(
    daemon: Service,
) -> None:
    music, prompt = daemon.connect("player.py", 100), daemon.connect("prompt.py", 200)
    daemon.request(music, "add", session="w1", context="w1", owner="music", type="playback")
    daemon.request(music, "request_active", session="w1", type="playback")
    daemon.request(prompt, "add", session="p", context="p", owner="prompt", type="transient-solo")
    sent = daemon.request(prompt, "request_active", session="p", type="transient-solo")
    assert [a["state"] for a in actions(sent[music.id])] == ["interrupted"]

    daemon.service.set_aside(prompt, since=time.monotonic())
    assert [a["state"] for a in actions(daemon.sent()[music.id])] == ["active"]
    assert daemon.service.status()["not_answering"] == 1
    assert [row["client"] for row in daemon.service.sessions()] == [music.id]

    daemon.service.heard_from(prompt)
    sent = daemon.sent()
    assert [a["state"] for a in actions(sent[music.id])] == ["interrupted"]
    assert {"do": "state", "session": "p", "state": "active", "fade": 0.0} in actions(
        sent[prompt.id]
    )
    assert daemon.service.status()["not_answering"] == 0


def test_a_bad_request_is_an_error_naming_the_problem_and_touches_nothing(daemon: Service) -> None:
    music, other = daemon.connect("player.py", 100), daemon.connect("other.py", 200)
    daemon.request(music, "add", session="w1", context="w1", owner="music")
    [reply] = daemon.request(other, "release", session="w1")[other.id]
    assert reply == {
        "id": daemon.ids,
        "ok": False,
        "error": (
            f"release: no session 'w1' of this client ({other.id}); register it with add first"
        ),
    }
    [reply] = daemon.request(other, "interrupt", kind="forever")[other.id]
    assert reply["error"] == (
        "interrupt: interruption kind must be 'transient' or 'permanent', not 'forever'"
    )
    assert [row["state"] for row in daemon.service.sessions()] == ["inactive"]


def test_a_client_that_adopts_its_childrens_streams_says_so_and_only_its_pid_counts(
    daemon: Service,
) -> None:
    parent = daemon.connect("parent.py", 100)
    daemon.connect("other.py", 200)
    [reply] = daemon.request(parent, "own_streams", children="yes")[parent.id]
    assert reply["error"] == "own_streams: children must be true or false, not 'yes'"
    assert daemon.service.pids_adopting_descendants() == set()
    [reply] = daemon.request(parent, "own_streams", children=True)[parent.id]
    assert reply == {"id": daemon.ids, "ok": True}
    assert daemon.service.pids_adopting_descendants() == {100}
    assert daemon.service.client_pids() == {100, 200}


def test_a_client_sending_only_garbage_is_marked_for_closing(daemon: Service) -> None:
    client = daemon.connect("fuzzer", 100)
    for _ in range(MAX_ERRORS_IN_A_ROW - 1):
        daemon.service.receive(client, b"garbage")
    assert not client.closing
    daemon.service.message_too_long(client)
    assert client.closing
    errors = [message["error"] for message in daemon.sent()[client.id]]
    assert errors[-2:] == [
        f"message longer than {MAX_MESSAGE} bytes; discarded",
        f"{MAX_ERRORS_IN_A_ROW} errors in a row; disconnecting",
    ]


def test_the_sessions_reply_comes_in_parts_each_within_the_limit(daemon: Service) -> None:
    clients = [daemon.connect(f"p{n}", 100 + n) for n in range(2)]
    for client in clients:
        for n in range(200):
            daemon.request(client, "add", session=f"s{n}", context="c", owner="o" * 256)
    daemon.ids += 1
    daemon.service.receive(clients[0], json.dumps({"id": daemon.ids, "op": "sessions"}).encode())
    [(_, data)] = daemon.service.take_output()
    parts = [json.loads(line) for line in data.splitlines()]
    assert len(parts) > 1 and all(len(line) <= MAX_MESSAGE for line in data.splitlines())
    assert [p["more"] for p in parts] == [True] * (len(parts) - 1) + [False]
    assert {p["id"] for p in parts} == {daemon.ids}
    rows = [row for part in parts for row in part["sessions"]]
    assert [row["id"] for row in rows] == [f"{c.id}/s{n}" for c in clients for n in range(200)]
