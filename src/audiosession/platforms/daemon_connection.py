"""The connection to the system daemon: one Unix socket, its hello, requests answered in
order, and the daemon's pushes handed to whoever listens (docs/protocol.md).

``DaemonConnection.open`` checks that the socket is this user's daemon's before it says hello
(whose directory and socket it is, who listens: ``wire.endpoint``, ``wire.peercred``); a reader
thread takes every line the daemon sends, answers its pings and hands replies to the waiting
request and pushes to the listener. ``DaemonClientPlatform`` (``platforms/daemon_client.py``)
is what uses it.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from audiosession.engine.backend import DeviceInfo
from audiosession.errors import AudioSessionError
from audiosession.platforms.base import program_name
from audiosession.policy import Action
from audiosession.wire.endpoint import PROTOCOL_VERSION, default_socket_path, socket_problem
from audiosession.wire.peercred import peer_credentials
from audiosession.wire.protocol import (
    OVERSIZED,
    LineDecoder,
    ProtocolError,
    decode_actions,
    decode_message,
    encode_devices,
    encode_message,
)

log = logging.getLogger(__name__)

__all__ = [
    "DaemonConnection",
    "DaemonError",
    "DaemonLostError",
    "DaemonUnavailableError",
    "UntrustedDaemonError",
]

REQUEST_TIMEOUT = 2.0
"""Seconds to wait for the daemon's reply (it answers in well under a millisecond)."""

CONNECT_TIMEOUT = 1.0
"""Seconds to connect and say hello."""

CLIENT_FEATURES = ("ping",)
"""What this client does beyond version 1's first form: it answers the daemon's pings."""


class DaemonError(AudioSessionError, RuntimeError):
    """The daemon refused a request or did not answer it."""


class DaemonUnavailableError(DaemonError):
    """No daemon answers at the socket (or it refused this process)."""


class DaemonLostError(DaemonError):
    """The connection to the daemon closed."""


class UntrustedDaemonError(DaemonUnavailableError):
    """The socket where the daemon should be may belong to another user: nothing was sent to
    it (docs/protocol.md, "Where, and who may connect")."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(
            f"not using the daemon socket {path}: {problem}. Another user may be posing as "
            "your audiosession daemon; remove it (or have root remove it), or set "
            "XDG_RUNTIME_DIR or AUDIOSESSION_DAEMON_SOCKET to a directory of your own"
        )
        self.path = path


class _Slot:
    __slots__ = ("event", "parts", "pushes_before", "reply")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.reply: dict[str, Any] | None = None
        self.parts: list[Any] = []  # the ``sessions`` of the parts of a reply read so far
        self.pushes_before = 0  # how many pushes the daemon sent before this reply


PushCallback = Callable[["DaemonConnection", list[Action]], None]
LostCallback = Callable[["DaemonConnection"], None]


class DaemonConnection:
    """One connection to the daemon: blocking requests from any thread, and a reader thread
    that hands replies to their callers and pushes to ``on_push``.

    ``DaemonConnection.open(path)`` connects and says hello; it raises ``DaemonUnavailableError``
    with the reason when no daemon answers.
    """

    def __init__(
        self,
        sock: socket.socket,
        path: Path,
        client_id: str,
        decoder: LineDecoder,
        pending_lines: list[bytes],
    ) -> None:
        self.path = path
        self.client_id = client_id
        self.on_push: PushCallback | None = None
        self.on_lost: LostCallback | None = None
        self.closed = False
        self.pushes_handed = 0
        """How many pushes were handed to ``on_push`` so far (the latest one's number)."""
        self._sock = sock
        self._decoder = decoder
        self._early = pending_lines
        self._ids = itertools.count(1)
        self._pending: dict[int, _Slot] = {}
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._closing_on_purpose = False
        self._reader: threading.Thread | None = None

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        program: str | None = None,
        devices: Sequence[DeviceInfo] | None = None,
        timeout: float = CONNECT_TIMEOUT,
    ) -> DaemonConnection:
        """Connect to the daemon at ``path`` (default: ``default_socket_path()``) and say
        hello. Call ``start()`` once ``on_push`` / ``on_lost`` are set."""
        where = Path(path) if path is not None else Path(default_socket_path())
        try:
            os.lstat(where)
        except FileNotFoundError:
            raise DaemonUnavailableError(f"no daemon socket at {where}") from None
        except OSError:
            pass  # not ours to look into: socket_problem says why
        problem = socket_problem(where)
        if problem is not None:
            raise UntrustedDaemonError(where, problem)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        decoder = LineDecoder()
        try:
            sock.connect(os.fspath(where))
            uid = peer_credentials(sock).uid
            if uid != os.getuid():
                raise UntrustedDaemonError(
                    where, f"it is served by a process of uid {uid}, not by you (uid {os.getuid()})"
                )
            hello: dict[str, Any] = {
                "op": "hello",
                "version": PROTOCOL_VERSION,
                "pid": os.getpid(),
                "program": program or program_name(),
                "features": list(CLIENT_FEATURES),
            }
            if devices is not None:
                hello["devices"] = encode_devices(devices)
            try:
                sock.sendall(encode_message(hello))
            except BrokenPipeError:
                pass  # refused at once; the reason is waiting to be read
            lines: list[bytes] = []
            while not lines:
                data = sock.recv(65536)
                if not data:
                    raise DaemonUnavailableError(
                        f"the daemon at {where} closed the connection during hello"
                    )
                for item in decoder.feed(data):
                    if item is OVERSIZED:
                        raise DaemonUnavailableError(
                            f"the daemon at {where} sent an oversized reply"
                        )
                    assert isinstance(item, bytes)
                    lines.append(item)
            reply = decode_message(lines.pop(0))
            if not reply.get("ok"):
                raise DaemonUnavailableError(
                    f"the daemon at {where} refused this process: {reply.get('error')}"
                )
            if reply.get("version") != PROTOCOL_VERSION:
                raise DaemonUnavailableError(
                    f"the daemon at {where} speaks protocol version {reply.get('version')!r}, "
                    f"this client {PROTOCOL_VERSION}"
                )
            client_id = str(reply.get("client"))
        except DaemonUnavailableError:
            sock.close()
            raise
        except (OSError, ProtocolError) as error:
            sock.close()
            raise DaemonUnavailableError(f"no daemon answers at {where} ({error})") from None
        sock.settimeout(None)
        return cls(sock, where, client_id, decoder, lines)

    def start(self) -> None:
        """Start the reader thread."""
        self._reader = threading.Thread(
            target=self._read, name="audiosession-daemon-client", daemon=True
        )
        self._reader.start()

    def request(
        self, op: str, args: dict[str, Any] | None = None, timeout: float = REQUEST_TIMEOUT
    ) -> dict[str, Any]:
        """Send one request and wait for its reply. Raises ``DaemonLostError`` if the connection
        closes, ``DaemonError`` for an error reply or no reply within ``timeout`` seconds."""
        return self.request_in_order(op, args, timeout)[0]

    def request_in_order(
        self, op: str, args: dict[str, Any] | None = None, timeout: float = REQUEST_TIMEOUT
    ) -> tuple[dict[str, Any], int]:
        """``request``, and how many pushes the daemon sent before the reply: the changes the
        reply says come after those and before any later push."""
        slot = _Slot()
        with self._lock:
            if self.closed:
                raise DaemonLostError(f"the connection to the daemon at {self.path} is closed")
            request_id = next(self._ids)
            self._pending[request_id] = slot
        data = encode_message({"id": request_id, "op": op, "args": args or {}})
        try:
            with self._send_lock:
                self._sock.sendall(data)
        except OSError as error:
            self._pending.pop(request_id, None)
            raise DaemonLostError(f"cannot send to the daemon at {self.path}: {error}") from None
        if not slot.event.wait(timeout):
            self._pending.pop(request_id, None)
            raise DaemonLostError(
                f"the daemon at {self.path} did not answer {op} within {timeout:g} s"
            )
        reply = slot.reply
        if reply is None:
            raise DaemonLostError(f"the connection to the daemon at {self.path} closed during {op}")
        if not reply.get("ok"):
            raise DaemonError(f"the daemon refused {op}: {reply.get('error')}")
        return reply, slot.pushes_before

    def close(self) -> None:
        """Close the connection (the daemon then removes this process's sessions)."""
        self._closing_on_purpose = True
        self._fail_all()
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()

    def _fail_all(self) -> None:
        with self._lock:
            self.closed = True
            pending, self._pending = self._pending, {}
        for slot in pending.values():
            slot.event.set()

    def _read(self) -> None:
        try:
            for line in self._early:
                self._handle(line)
            self._early = []
            while True:
                data = self._sock.recv(65536)
                if not data:
                    break
                for item in self._decoder.feed(data):
                    if item is OVERSIZED:
                        log.error("the daemon sent an oversized message; ignored")
                        continue
                    assert isinstance(item, bytes)
                    self._handle(item)
        except OSError:
            pass
        except Exception:  # pragma: no cover - a bug; the connection is treated as lost
            log.exception("reading from the daemon failed")
        self._fail_all()
        if not self._closing_on_purpose and self.on_lost is not None:
            self.on_lost(self)

    def _handle(self, line: bytes) -> None:
        try:
            message = decode_message(line)
            if message.get("push") == "ping":
                self._answer_ping(message.get("token"))
                return
            if "push" in message:
                actions = decode_actions(message.get("actions"))
                self.pushes_handed += 1
                if self.on_push is not None:
                    self.on_push(self, actions)
                return
        except ProtocolError as error:
            log.error("the daemon sent a message this client cannot read: %s", error)
            return
        request_id = message.get("id")
        slot = self._pending.get(request_id) if isinstance(request_id, int) else None
        if slot is None or not isinstance(request_id, int):
            if not message.get("ok", True):
                log.warning("the daemon says: %s", message.get("error"))
            return
        if "more" in message and isinstance(message.get("sessions"), list):
            # A reply in parts (docs/protocol.md): gather them until the last.
            slot.parts += message["sessions"]
            if message["more"] is True:
                return
            message["sessions"] = slot.parts
        self._pending.pop(request_id, None)
        slot.pushes_before = self.pushes_handed
        slot.reply = message
        slot.event.set()

    def _answer_ping(self, token: object) -> None:
        """On the reader thread, so that a client busy on its loop still answers: only a
        process that is stopped or hung misses the daemon's deadline."""
        try:
            with self._send_lock:
                self._sock.sendall(encode_message({"pong": token}))
        except (OSError, ProtocolError):
            pass  # the connection is going; the reader notices
