"""A client of the daemon that speaks the wire format by hand."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

from audiosession.wire.protocol import LineDecoder


class Raw:
    """A client speaking the wire format by hand."""

    def __init__(self, path: Path, hello: bool = True) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(5)
        self.sock.connect(str(path))
        self.decoder = LineDecoder(1 << 20)
        self.lines: list[dict[str, Any]] = []
        self.ids = 0
        if hello:
            reply = self.send({"op": "hello", "version": 1, "program": "raw"})
            assert reply["ok"], reply
            self.client = reply["client"]

    def send_bytes(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, message: dict[str, Any]) -> dict[str, Any]:
        self.sock.sendall(json.dumps(message).encode() + b"\n")
        return self.next_reply()

    def request(self, op: str, **args: Any) -> dict[str, Any]:
        self.ids += 1
        reply = self.send({"id": self.ids, "op": op, "args": args})
        assert reply.get("id") == self.ids, reply
        return reply

    def next_message(self) -> dict[str, Any]:
        while not self.lines:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("the daemon closed the connection")
            self.lines += [json.loads(line) for line in self.decoder.feed(data)]
        return self.lines.pop(0)

    def next_reply(self) -> dict[str, Any]:
        while True:
            message = self.next_message()
            if "push" not in message:
                return message
            self.pushes.append(message)

    @property
    def pushes(self) -> list[dict[str, Any]]:
        if not hasattr(self, "_pushes"):
            self._pushes: list[dict[str, Any]] = []
        return self._pushes

    def next_push(self) -> dict[str, Any]:
        if self.pushes:
            return self.pushes.pop(0)
        message = self.next_message()
        assert "push" in message, message
        return message

    def closed(self) -> bool:
        try:
            while True:
                self.next_message()
        except EOFError:
            return True
        except (TimeoutError, ConnectionResetError):
            return False

    def close(self) -> None:
        self.sock.close()


def sound_event(raw: Raw, session: str, timeout: float = 5.0) -> dict[str, Any]:
    """The next ``sound`` push about ``session`` (other pushes are kept in ``raw.pushes``)."""
    deadline = time.monotonic() + timeout
    while True:
        for push in raw.pushes:
            if push.get("push") == "sound" and push.get("session") == session:
                raw.pushes.remove(push)
                return push
        if time.monotonic() > deadline:
            raise AssertionError(f"no sound push for {session} within {timeout} s: {raw.pushes}")
        raw.pushes.append(raw.next_message())
