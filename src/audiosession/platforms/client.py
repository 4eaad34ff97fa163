"""The daemon client platform: this process's sessions, decided by the system daemon.

``DaemonClientPlatform`` is a ``PolicyPlatform`` whose decisions come from the daemon
(``audiosession daemon``), which runs the same ``Arbiter`` for every program of the user: each
``_decide`` is one request on a Unix socket, answered with the actions for this process's
sessions. Actions the daemon decides for this process because of another one (a notification
elsewhere ducks our music) arrive as pushes on a reader thread and are applied as tasks on the
loop, in the order the daemon sent them.

If the daemon goes away, the platform says so in the log and decides locally (an ``Arbiter``
of its own, with this process's sessions re-added: the active ones stay active), and tries to
reconnect every ``reconnect_interval`` seconds; once back, it registers its sessions anew
(the active and held ones ask to be active again: the policy decides which may).
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from audiosession.engine.devices import DeviceInfo
from audiosession.errors import AudioSessionError
from audiosession.loop import TaskLoop, Timer
from audiosession.platforms.base import SessionInfo, program_name
from audiosession.platforms.embedded import PolicyPlatform
from audiosession.policy import Action, Arbiter
from audiosession.types import AudioSessionState, AudioSessionType
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
    "DaemonClientPlatform",
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

RECONNECT_INTERVAL = 0.5
"""Seconds between attempts to find the daemon again after it went away."""

CLIENT_FEATURES = ("ping",)
"""What this client does beyond version 1's first form: it answers the daemon's pings."""

ACTIVE = AudioSessionState.ACTIVE
INTERRUPTED = AudioSessionState.INTERRUPTED


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


def encode_args(operation: str, args: Sequence[Any]) -> dict[str, Any]:
    """The wire ``args`` of an ``Arbiter`` call ``operation(*args)`` (docs/protocol.md)."""
    if operation == "add":
        encoded = {"session": args[0], "context": args[1], "owner": args[2]}
        if len(args) > 3:
            encoded["type"] = AudioSessionType.parse(args[3]).value
        return encoded
    if operation in ("remove", "release"):
        return {"session": args[0]}
    if operation in ("request_active", "set_type"):
        return {"session": args[0], "type": AudioSessionType.parse(args[1]).value}
    if operation == "interrupt":
        return {"kind": args[0], "reason": args[1]}
    if operation == "end_interruption":
        return {} if not args or args[0] is None else {"reason": args[0]}
    if operation == "set_devices":
        return {"devices": encode_devices(args[0])}
    if operation == "device_removed":
        return {"device": args[0], "sessions": list(args[1])}
    raise ValueError(f"not an Arbiter operation: {operation!r}")


class DaemonClientPlatform(PolicyPlatform):
    """The sessions of this process's windows, decided by the system daemon together with
    every other program of the user (docs/design.md, *What it is*)."""

    name = "daemon"

    def __init__(
        self,
        loop: TaskLoop,
        connection: DaemonConnection | None = None,
        *,
        socket_path: str | os.PathLike[str] | None = None,
        reconnect_interval: float = RECONNECT_INTERVAL,
        request_timeout: float = REQUEST_TIMEOUT,
        **options: Any,
    ) -> None:
        super().__init__(loop, **options)
        self.socket_path = (
            Path(socket_path)
            if socket_path is not None
            else connection.path
            if connection is not None
            else Path(default_socket_path())
        )
        self.reconnect_interval = reconnect_interval
        self.request_timeout = request_timeout
        self._conn: DaemonConnection | None = None
        self._local: Arbiter | None = None
        self._registered: dict[str, None] = {}  # sessions the decider knows, in order
        self._types: dict[str, AudioSessionType] = {}
        # Pushes not applied yet, each with its number on its connection, in the daemon's order.
        self._pushes: deque[tuple[DaemonConnection, int, list[Action]]] = deque()
        self._reconnect_timer: Timer | None = None
        self._warned_untrusted = False
        self._closed = False
        if connection is None:
            connection = DaemonConnection.open(self.socket_path)
        self._attach(connection)

    @property
    def connected(self) -> bool:
        """Whether decisions come from the daemon now (else: locally, until it is back)."""
        return self._conn is not None

    @property
    def client_id(self) -> str | None:
        """This process's id at the daemon (its sessions are ``<client_id>/<session>``)."""
        return self._conn.client_id if self._conn is not None else None

    # -- deciding -----------------------------------------------------------------------------

    def _decide(self, operation: str, *args: Any) -> list[Action]:
        with self.loop.lock:
            conn = self._conn
            if conn is not None:
                try:
                    reply, pushes_before = conn.request_in_order(
                        operation, encode_args(operation, args), self.request_timeout
                    )
                except DaemonLostError as error:
                    self._lose(conn, str(error))
                else:
                    # What the daemon pushed before the reply happened before it; what it
                    # pushed since happened after, and is applied after the reply's actions
                    # (the tasks queued for those pushes run once the caller has applied them).
                    self._drain_pushes(pushes_before)
                    self._track(operation, args)
                    return decode_actions(reply.get("actions", []))
            if self._local is None:  # closed: nothing is decided any more
                return []
            actions: list[Action] = getattr(self._local, operation)(*args)
            self._track(operation, args)
            return actions

    def _track(self, operation: str, args: Sequence[Any]) -> None:
        if operation == "add":
            self._registered[args[0]] = None
            self._types[args[0]] = (
                AudioSessionType.parse(args[3]) if len(args) > 3 else (AudioSessionType.AMBIENT)
            )
        elif operation == "remove":
            self._registered.pop(args[0], None)
            self._types.pop(args[0], None)
        elif operation in ("request_active", "set_type"):
            self._types[args[0]] = AudioSessionType.parse(args[1])

    def interrupt(self, kind: str = "transient", reason: str = "external interruption") -> None:
        """An interruption for every program of the user (the daemon holds it until
        ``end_interruption``, or until this process goes away)."""
        with self.loop.lock:
            super().interrupt(kind, reason)

    def end_interruption(self, reason: str | None = None) -> None:
        with self.loop.lock:
            super().end_interruption(reason)

    # -- pushes and the connection's life ------------------------------------------------------

    def _attach(self, conn: DaemonConnection) -> None:
        conn.on_push = self._on_push
        conn.on_lost = self._on_lost
        self._conn = conn
        conn.start()

    def _on_push(self, conn: DaemonConnection, actions: list[Action]) -> None:
        # On the reader thread: keep the daemon's order, apply on the loop.
        self._pushes.append((conn, conn.pushes_handed, actions))
        self.loop.queue_task(self._drain_pushes)

    def _on_lost(self, conn: DaemonConnection) -> None:
        self.loop.queue_task(self._lose, conn, "the connection closed")

    def _drain_pushes(self, up_to: int | None = None) -> None:
        """Apply the pushes received (of the current connection, up to its push ``up_to``)."""
        with self.loop.lock:
            while self._pushes:
                conn, number, actions = self._pushes[0]
                if up_to is not None and conn is self._conn and number > up_to:
                    return
                self._pushes.popleft()
                if conn is self._conn:
                    self._apply(actions)

    def _lose(self, conn: DaemonConnection, why: str) -> None:
        """The daemon went away: decide locally until it is back."""
        with self.loop.lock:
            if self._conn is not conn:
                return
            self._conn = None
            conn.close()
            self._pushes.clear()
            if self._closed:
                return
            log.warning(
                "the audiosession daemon at %s went away (%s): deciding in this "
                "process (embedded mode) until it is back",
                self.socket_path,
                why,
            )
            local = Arbiter(self.config, self.audio.devices() if self._devices_known else ())
            self._local = local
            actions: list[Action] = []
            for session_id in self._registered:
                handle = self._handles.get(session_id)
                if handle is not None:
                    actions += local.add(
                        session_id, handle.context_id, handle.owner, self._types[session_id]
                    )
            for session_id in self._registered:
                if self._states.get(session_id) is ACTIVE:
                    actions += local.request_active(session_id, self._types[session_id])
            self._apply(actions)
            self._schedule_reconnect()

    def _schedule_reconnect(self) -> None:
        if self._reconnect_timer is not None:
            self._reconnect_timer.cancel()
        self._reconnect_timer = self.loop.call_later(self.reconnect_interval, self._reconnect)

    def _reconnect(self) -> None:
        """Find the daemon again; register this process's sessions anew."""
        self._reconnect_timer = None
        with self.loop.lock:
            if self._closed or self._conn is not None:
                return
            devices = self.audio.devices() if self._devices_known else None
            try:
                conn = DaemonConnection.open(
                    self.socket_path, devices=devices, timeout=self.reconnect_interval
                )
            except DaemonUnavailableError as error:
                if isinstance(error, UntrustedDaemonError) and not self._warned_untrusted:
                    self._warned_untrusted = True
                    log.warning("%s; deciding in this process meanwhile", error)
                else:
                    log.debug("the audiosession daemon is still away: %s", error)
                self._schedule_reconnect()
                return
            self._attach(conn)
            try:
                for session_id in self._registered:
                    handle = self._handles[session_id]
                    self._send_and_apply(
                        conn,
                        "add",
                        session_id,
                        handle.context_id,
                        handle.owner,
                        self._types[session_id],
                    )
                wanted = [
                    s for s in self._registered if self._states.get(s) in (ACTIVE, INTERRUPTED)
                ]
                for session_id in wanted:
                    self._send_and_apply(
                        conn, "request_active", session_id, self._types[session_id]
                    )
            except DaemonError as error:  # lost again, or refused: try again later
                self._lose(conn, str(error))
                return
            self._local = None
            log.info(
                "the audiosession daemon at %s is back (client %s): %d session(s) "
                "registered anew, %d asked to play again",
                self.socket_path,
                conn.client_id,
                len(self._registered),
                len(wanted),
            )

    def _send_and_apply(self, conn: DaemonConnection, operation: str, *args: Any) -> None:
        reply, pushes_before = conn.request_in_order(
            operation, encode_args(operation, args), self.request_timeout
        )
        self._drain_pushes(pushes_before)
        self._apply(decode_actions(reply.get("actions", [])))

    # -- reports ------------------------------------------------------------------------------

    def sessions(self) -> list[SessionInfo]:
        """Every session of every program the daemon serves (ids ``<client>/<session>``);
        while the daemon is away, this process's own."""
        with self.loop.lock:
            conn = self._conn
            if conn is not None:
                try:
                    reply = conn.request("sessions", {}, self.request_timeout)
                except DaemonLostError as error:
                    self._lose(conn, str(error))
                else:
                    return [self._info(row, conn.client_id) for row in reply["sessions"]]
            if self._local is None:
                return []
            return [
                SessionInfo(
                    id=record.id,
                    owner=record.owner,
                    context=record.context,
                    type=self._handles[record.id].type,
                    computed_type=record.type,
                    state=record.state,
                    gain=self.audio.session_gain(record.id).value,
                    causes=tuple(record.causes),
                    route=record.route,
                )
                for record in self._local.snapshot()
            ]

    def daemon_status(self) -> dict[str, Any] | None:
        """The daemon's own state (its ``status`` reply, docs/protocol.md: clients, sessions,
        whether its PulseAudio bridge is on or off and why); None while it is away or if it
        is too old to tell."""
        with self.loop.lock:
            conn = self._conn
            if conn is None:
                return None
            try:
                return conn.request("status", {}, self.request_timeout)
            except DaemonLostError as error:
                self._lose(conn, str(error))
            except DaemonError:  # an older daemon: "unknown op"
                pass
            return None

    def _info(self, row: dict[str, Any], own_client: str) -> SessionInfo:
        computed = AudioSessionType(row["type"])
        handle = self._handles.get(row["session"]) if row.get("client") == own_client else None
        return SessionInfo(
            id=row["id"],
            owner=row["owner"],
            context=row["context"],
            type=handle.type if handle is not None else computed,
            computed_type=computed,
            state=AudioSessionState(row["state"]),
            gain=float(row["gain"]),
            causes=tuple(row["causes"]),
            route=row.get("route"),
        )

    def close(self) -> None:
        with self.loop.lock:
            self._closed = True
            if self._reconnect_timer is not None:
                self._reconnect_timer.cancel()
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
        super().close()
