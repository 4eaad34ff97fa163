"""The system daemon: one policy (``platform.policy.Arbiter``) for every audiosession process of
the user, served on a Unix socket (DESIGN §1 "System", docs/protocol.md).

Each client process connects, says ``hello``, and then asks the daemon what its sessions may
do, exactly as the embedded platform asks its own ``Arbiter``. Session ids and contexts are
namespaced per client (``<client>/<id>``), so the table of DESIGN §6 applies between the
windows of different processes as it does between the windows of one. Actions for the asking
client come back in the reply; actions for other clients' sessions are pushed to them.

The daemon never dies of a client: every message is bounded and checked, every handler is
guarded, a client that keeps sending garbage or stops reading is disconnected, and a client
that goes away (exit, crash, ``kill -9``) has its sessions removed at once, releasing whatever
they ducked, paused or delayed elsewhere.

Routes are per client: each process has its own devices (its own backend), so the daemon
runs the Arbiter without devices and computes each session's route with the policy's
``route_for`` from its own client's device list.

With ``pulse_bridge``, the streams of programs that do not use this package are sessions of a
built-in pseudo-client ``pulse`` (``daemon/bridge.py``, docs/bridge.md): its actions are
applied to the PulseAudio / PipeWire server instead of being pushed.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import itertools
import logging
import os
import signal
import socket
import stat
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audiosession.daemon.bridge import BRIDGE_CLIENT, PulseBridge
from audiosession.daemon.player import DaemonPlayer
from audiosession.engine.devices import DeviceInfo
from audiosession.errors import AudioSessionError
from audiosession.platform.peercred import peer_credentials
from audiosession.platform.policy import (
    INTERRUPTION_KINDS,
    Action,
    Arbiter,
    ArbiterRecord,
    PolicyConfig,
    SetRoute,
    find_config,
    route_for,
)
from audiosession.platform.protocol import (
    MAX_MESSAGE,
    OPERATION_ARGS,
    OVERSIZED,
    PROTOCOL_VERSION,
    LineDecoder,
    ProtocolError,
    check_string,
    decode_devices,
    decode_message,
    default_socket_path,
    directory_problem,
    encode_action,
    encode_in_parts,
    encode_message,
)
from audiosession.types import AudioSessionState

log = logging.getLogger(__name__)

__all__ = ["Daemon", "DaemonStartError", "DaemonThread", "peer_credentials", "serve"]

MAX_ERRORS_IN_A_ROW = 20
"""Errors (malformed, unknown, refused requests) in a row after which a client is dropped."""

MAX_CLIENTS = 1000
"""Connections served at once; more are refused with an error."""

MAX_SESSIONS_PER_CLIENT = 256
"""Sessions one client may register (keeps every reply under ``MAX_MESSAGE``)."""

MAX_WRITE_BUFFER = 1024 * 1024
"""Bytes of replies and pushes a client may leave unread before it is dropped."""

LOGGED_ERRORS_PER_CLIENT = 10
"""Protocol errors logged one by one per client; the rest are counted (no log flooding)."""

READ_CHUNK = 64 * 1024

PUSH_CHUNK = 200
"""Actions in one push message at most (keeps pushes under ``MAX_MESSAGE``)."""

PING_INTERVAL = 1.0
"""Seconds between liveness pings to a client that answers them (at most one unanswered)."""

ANSWER_DEADLINE = 2.0
"""Seconds a client has to answer a ping. One that has not is taken for stopped or hung
(``SIGSTOP``, a debugger, a livelock): its sessions are set aside — they stop affecting
the others — until it sends anything again, when they are registered anew."""

LIVENESS_TICK = 0.1
"""Seconds between the daemon's checks of the pings it is waiting for."""

FEATURES = ("ping", "sessions-in-parts")
"""What this daemon does beyond version 1's first form (its hello reply lists them)."""

LISTED_CAUSES = 16
"""Causes listed in one ``sessions`` row at most; more are counted ("and 40 more")."""

_UNSET = object()


class DaemonStartError(AudioSessionError, RuntimeError):
    """The daemon cannot start: another one runs, or its socket directory is not private."""


class _Client:
    """One connected client process."""

    def __init__(self, client_id: str, writer: asyncio.StreamWriter, pid: int, uid: int,
                 outbox: dict[_Client, None]) -> None:
        self.id = client_id
        self.writer = writer
        self.pid = pid
        self.uid = uid
        self.program = "?"
        self.greeted = False
        self.closing = False
        self.aborted = False
        self.devices: tuple[DeviceInfo, ...] = ()
        self.sessions: dict[str, None] = {}  # this client's own session ids, in order
        self.routes: dict[str, str | None] = {}
        self.errors_in_a_row = 0
        self.errors_total = 0
        self.requests = 0
        self.answers_pings = False  # said so in its hello (``features``)
        self.ping_token = 0
        self.ping_sent: float | None = None  # time.monotonic() of the unanswered ping
        self.last_ping = time.monotonic()
        self.set_aside: _SetAside | None = None  # not answering: what it held, put aside
        self._out: list[bytes] = []
        self._outbox = outbox

    def __repr__(self) -> str:
        return f"client {self.id} (pid {self.pid}, {self.program})"

    def ns(self, session_id: str) -> str:
        """The daemon-wide id of this client's session (or context) ``session_id``."""
        return f"{self.id}/{session_id}"

    def send(self, message: Mapping[str, Any]) -> None:
        """Queue ``message``; the daemon flushes every client's queue once per chunk read
        (one system call for a batch of replies or pushes). A reply that cannot be encoded
        (a bug: every reply is bounded) becomes an error reply: it never costs the client its
        connection."""
        try:
            data = encode_message(message)
        except (ProtocolError, TypeError, ValueError) as error:
            log.error("%s: cannot send %s: %s", self, message.get("push") or "a reply", error)
            if "push" in message:
                return
            data = encode_message({"id": message.get("id"), "ok": False,
                                   "error": f"internal error in the daemon ({error})"})
        self.send_encoded([data])

    def send_encoded(self, messages: Iterable[bytes]) -> None:
        """Queue messages already encoded (``encode_message``, ``encode_in_parts``)."""
        if self.aborted:
            return
        self._out.extend(messages)
        self._outbox[self] = None

    def flush(self) -> None:
        if not self._out or self.aborted or self.writer.is_closing():
            self._out.clear()
            return
        data = b"".join(self._out)
        self._out.clear()
        self.writer.write(data)
        transport = self.writer.transport
        if transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            log.warning("%s does not read its messages (over %d bytes unread): dropping it",
                        self, MAX_WRITE_BUFFER)
            self.closing = self.aborted = True
            transport.abort()

    def error(self, request_id: object, message: str) -> None:
        """Reply with an error, log it, and drop the client after too many in a row."""
        self.errors_in_a_row += 1
        self.errors_total += 1
        if self.errors_total <= LOGGED_ERRORS_PER_CLIENT:
            log.warning("%s: %s", self, message)
            if self.errors_total == LOGGED_ERRORS_PER_CLIENT:
                log.warning("%s: further errors are counted, not logged", self)
        self.send({"id": request_id, "ok": False, "error": message})
        if self.errors_in_a_row >= MAX_ERRORS_IN_A_ROW:
            log.warning("%s sent %d bad messages in a row: disconnecting it", self,
                        self.errors_in_a_row)
            self.send({"id": None, "ok": False,
                       "error": f"{self.errors_in_a_row} errors in a row; disconnecting"})
            self.closing = True


@dataclass
class _SetAside:
    """What a client that stopped answering held: its sessions (as the arbiter had them) and
    the transient interruptions it alone made, to be applied again when it answers."""

    since: float
    sessions: list[ArbiterRecord] = field(default_factory=list)
    interruptions: list[str] = field(default_factory=list)


class Daemon:
    """The daemon's state and its asyncio server. ``start()`` binds the socket; ``wait()``
    serves until ``stop()``; ``close()`` releases everything (clients are disconnected and
    find the daemon again when it comes back)."""

    def __init__(
        self,
        socket_path: str | os.PathLike[str] | None = None,
        config: PolicyConfig | None = None,
        *,
        allowed_uid: int | None = None,
        pulse_bridge: bool = False,
        pulse_server: str | None = None,
        ping_interval: float = PING_INTERVAL,
        answer_deadline: float = ANSWER_DEADLINE,
        play_sounds: bool = False,
    ) -> None:
        """``pulse_bridge``: bridge the foreign streams of ``pulse_server`` (default
        ``$PULSE_SERVER``, else the default server) into the policy (docs/bridge.md).
        ``ping_interval``, ``answer_deadline``: the liveness check (docs/protocol.md).
        ``play_sounds``: play files for clients (``play_file``, ``daemon/player.py``)."""
        self._private_dir = socket_path is None
        self.socket_path = Path(socket_path) if socket_path is not None else default_socket_path()
        self.config = config if config is not None else find_config()
        self.arbiter = Arbiter(self.config)  # no devices: routes are per client (see module)
        self.allowed_uid = os.getuid() if allowed_uid is None else allowed_uid
        self.clients: dict[str, _Client] = {}
        self._outbox: dict[_Client, None] = {}  # clients with messages to flush
        self.interruptions: dict[str, set[str]] = {}  # transient reason -> clients holding it
        self.started_at = time.time()
        self.operations = 0
        self._ids = itertools.count(1)
        self._server: asyncio.AbstractServer | None = None
        self._stopped: asyncio.Event | None = None
        self._lock_file: int | None = None
        self.pulse_bridge = pulse_bridge
        self.pulse_server = pulse_server
        self.bridge: PulseBridge | None = None
        self._bridge_off = "off (not asked for; --no-pulse-bridge)"
        self.ping_interval = ping_interval
        self.answer_deadline = answer_deadline
        self._liveness: asyncio.Task[None] | None = None
        self.player = DaemonPlayer(self) if play_sounds else None
        self.features = (*FEATURES, "play-file") if play_sounds else FEATURES
        """What this daemon does beyond protocol version 1's first form (its hello says)."""

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Take the single-instance lock, bind the socket (0600 in a 0700 directory), listen."""
        self._stopped = asyncio.Event()
        directory = self.socket_path.parent
        if self._private_dir:
            _make_private_dir(directory)
        elif not directory.is_dir():
            raise DaemonStartError(f"cannot listen on {self.socket_path}: no directory {directory}")
        else:
            problem = directory_problem(directory)
            if problem is not None:
                raise DaemonStartError(f"cannot listen on {self.socket_path}: {problem}; use a "
                                       "directory of your own")
        self._take_lock()
        try:
            if self.player is not None:  # before serving (see DaemonPlayer.start)
                await self.player.start()
            sock = self._bind()
            self._server = await asyncio.start_unix_server(self._serve_client, sock=sock)
        except BaseException:
            self._release_lock()
            raise
        log.info("audiosession daemon (pid %d) listening on %s for uid %d; policy: %r",
                 os.getpid(), self.socket_path, self.allowed_uid, self.config)
        self._liveness = asyncio.create_task(self._watch_liveness())
        if self.pulse_bridge:
            try:
                self.bridge = PulseBridge(self, self.socket_path.with_name("volumes.json"),
                                          self.pulse_server)
            except ImportError as error:
                self._bridge_off = f"off: {error} (pip install pulsectl)"
                log.warning("PulseAudio bridge %s", self._bridge_off)
            else:
                self.bridge.start(asyncio.get_running_loop())
        else:
            log.info("PulseAudio bridge %s", self._bridge_off)

    def stop(self) -> None:
        """Make ``wait()`` return (call on the daemon's event loop)."""
        if self._stopped is not None:
            self._stopped.set()

    async def wait(self) -> None:
        """Serve until ``stop()``."""
        assert self._stopped is not None, "start() first"
        await self._stopped.wait()

    async def close(self) -> None:
        """Stop listening, disconnect every client, remove the socket, release the lock."""
        if self._server is not None:
            self._server.close()
        if self._liveness is not None:
            self._liveness.cancel()
            self._liveness = None
        for client in list(self.clients.values()):
            client.closing = True
            client.writer.close()
        for client in list(self.clients.values()):
            self._drop(client, "daemon stopping")
        if self.player is not None:
            await self.player.close()
        if self.bridge is not None:  # gives every foreign stream back its volume and mute
            await asyncio.get_running_loop().run_in_executor(None, self.bridge.close)
            self.bridge = None
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        self._release_lock()
        log.info("audiosession daemon stopped")

    def _take_lock(self) -> None:
        lock_path = self.socket_path.with_name(self.socket_path.name + ".lock")
        fd = _open_own_file(lock_path, "the lock file")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise DaemonStartError(
                f"another audiosession daemon (pid {other}) is already serving "
                f"{self.socket_path}; stop it first (systemctl --user stop audiosession)"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_file = fd

    def _release_lock(self) -> None:
        if self._lock_file is not None:
            os.close(self._lock_file)
            self._lock_file = None

    def _bind(self) -> socket.socket:
        path = self.socket_path
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # a stale socket: we hold the lock, so nobody serves it
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_mask = os.umask(0o177)
        try:
            sock.bind(os.fspath(path))
        except OSError:
            sock.close()
            raise
        finally:
            os.umask(old_mask)
        # Created 0600 by the umask. No chmod by path: in a directory others may write, the
        # path could be another file by now.
        sock.listen(128)
        sock.setblocking(False)
        return sock

    # -- connections --------------------------------------------------------------------------

    async def _serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        client: _Client | None = None
        try:
            sock = writer.get_extra_info("socket")
            pid, uid, _ = peer_credentials(sock)
            if uid != self.allowed_uid:
                log.warning("refused a connection from uid %d (pid %d): this daemon serves "
                            "uid %d only", uid, pid, self.allowed_uid)
                await _refuse(reader, writer, f"refused: uid {uid} is not this daemon's user "
                                              f"(uid {self.allowed_uid}); run your own daemon")
                return
            if len(self.clients) >= MAX_CLIENTS:
                log.warning("refused pid %d: already %d clients", pid, len(self.clients))
                await _refuse(reader, writer,
                              f"refused: the daemon serves {MAX_CLIENTS} clients at most")
                return
            client = _Client(f"c{next(self._ids)}", writer, pid, uid, self._outbox)
            self.clients[client.id] = client
            await self._read(client, reader)
        except (ConnectionError, OSError) as error:
            log.debug("%s: connection error %s", client, error)
        except Exception:  # never die of a client
            log.exception("unexpected error serving %s", client)
        finally:
            if client is not None:
                self._drop(client, "disconnected")
            with contextlib.suppress(Exception):
                writer.close()

    async def _read(self, client: _Client, reader: asyncio.StreamReader) -> None:
        decoder = LineDecoder(MAX_MESSAGE)
        while not client.closing:
            data = await reader.read(READ_CHUNK)
            if not data:
                return
            self._heard_from(client)
            try:
                for item in decoder.feed(data):
                    if item is OVERSIZED:
                        client.error(None, f"message longer than {MAX_MESSAGE} bytes; "
                                           "discarded")
                    else:
                        assert isinstance(item, bytes)
                        self._handle_line_guarded(client, item)
                    if client.closing:
                        return
            finally:
                self.flush()

    # -- liveness -----------------------------------------------------------------------------

    async def _watch_liveness(self) -> None:
        """Ping every client that answers pings, one ping at a time; set aside the sessions of
        one that has not answered within ``answer_deadline``."""
        while True:
            await asyncio.sleep(LIVENESS_TICK)
            now = time.monotonic()
            for client in list(self.clients.values()):
                if not client.answers_pings or client.closing or client.set_aside is not None:
                    continue
                if client.ping_sent is None:
                    if now - client.last_ping >= self.ping_interval:
                        client.ping_token += 1
                        client.ping_sent = client.last_ping = now
                        client.send({"push": "ping", "token": client.ping_token})
                elif now - client.ping_sent >= self.answer_deadline:
                    self._set_aside(client, now)
            self.flush()

    def _heard_from(self, client: _Client) -> None:
        """Anything from a client shows it runs: its ping is answered, and what was set aside
        for it is applied again before its message is handled."""
        client.ping_sent = None
        if client.set_aside is not None:
            self._bring_back(client)

    def _set_aside(self, client: _Client, now: float) -> None:
        """``client`` does not answer: its sessions leave the policy (whatever they ducked,
        paused or delayed is released), kept aside for when it answers again."""
        aside = _SetAside(since=client.ping_sent or now)
        started = time.perf_counter()
        told: set[str] = set()
        for session_id in list(client.sessions):
            name = client.ns(session_id)
            aside.sessions.append(self.arbiter.record(name))
            told |= self._dispatch(None, self.arbiter.remove(name))
        client.sessions.clear()
        for reason in [r for r, holders in self.interruptions.items() if client.id in holders]:
            holders = self.interruptions[reason]
            holders.discard(client.id)
            aside.interruptions.append(reason)
            if not holders:
                del self.interruptions[reason]
                told |= self._dispatch(None, self.arbiter.end_interruption(reason))
        client.set_aside = aside
        self.flush()
        log.warning("%s has not answered a ping for %.1f s (stopped or hung): its %d "
                    "session(s) no longer affect others until it answers; %d other client(s) "
                    "told in %.2f ms", client, now - aside.since, len(aside.sessions),
                    len(told - {client.id}), (time.perf_counter() - started) * 1000)

    def _bring_back(self, client: _Client) -> None:
        """``client`` answers again: its sessions are registered anew — added, then the active
        and held ones ask to be active, as a client that reconnects does — and its
        interruptions are made again."""
        aside, client.set_aside = client.set_aside, None
        assert aside is not None
        for record in aside.sessions:
            session_id = record.id.partition("/")[2]
            client.sessions[session_id] = None
            self._dispatch(None, self.arbiter.add(record.id, record.context, record.owner,
                                                  record.type))
        for record in aside.sessions:
            if record.state in (AudioSessionState.ACTIVE, AudioSessionState.INTERRUPTED):
                self._dispatch(None, self.arbiter.request_active(record.id, record.type))
        for reason in aside.interruptions:
            self.interruptions.setdefault(reason, set()).add(client.id)
            self._dispatch(None, self.arbiter.interrupt("transient", reason))
        log.info("%s answers again after %.1f s: its %d session(s) take part again", client,
                 time.monotonic() - aside.since, len(aside.sessions))

    def flush(self) -> None:
        """Write out every client's queued replies and pushes."""
        while self._outbox:
            clients = list(self._outbox)
            self._outbox.clear()
            for client in clients:
                client.flush()

    def _drop(self, client: _Client, why: str) -> None:
        """The client is gone: remove its sessions at once and tell the others."""
        if self.clients.get(client.id) is not client:
            return
        started = time.perf_counter()
        del self.clients[client.id]
        client.closing = True
        told: set[str] = set()
        removed = 0
        for session_id in list(client.sessions):
            try:
                actions = self.arbiter.remove(client.ns(session_id))
            except KeyError:  # pragma: no cover - the bookkeeping agrees with the arbiter
                continue
            removed += 1
            told |= self._dispatch(None, actions)
        client.sessions.clear()
        for reason in [r for r, holders in self.interruptions.items() if client.id in holders]:
            holders = self.interruptions[reason]
            holders.discard(client.id)
            if not holders:
                del self.interruptions[reason]
                told |= self._dispatch(None, self.arbiter.end_interruption(reason))
        if self.player is not None:
            self.player.client_gone(client)
        self.flush()
        elapsed = (time.perf_counter() - started) * 1000
        if client.greeted or removed:
            log.info("%s %s: %d session(s) removed, %d other client(s) told in %.2f ms "
                     "(%d requests, %d errors)", client, why, removed, len(told), elapsed,
                     client.requests, client.errors_total)
        else:
            log.debug("%s %s before its hello (%d errors)", client, why, client.errors_total)

    # -- messages -----------------------------------------------------------------------------

    def _handle_line_guarded(self, client: _Client, line: bytes) -> None:
        """``_handle_line``; a bug in it is logged and answered, never a lost connection (a
        client's request must not cost it its sessions)."""
        try:
            self._handle_line(client, line)
        except Exception as error:
            log.exception("%s: handling a message failed", client)
            client.error(None, f"internal error in the daemon ({error!r})")

    def _handle_line(self, client: _Client, line: bytes) -> None:
        try:
            message = decode_message(line)
        except ProtocolError as error:
            client.error(None, str(error))
            return
        request_id = message.get("id")
        if request_id is not None and not _valid_id(request_id):
            client.error(None, f"id must be an integer or a short string, not {request_id!r}")
            return
        if not client.greeted:
            self._hello(client, request_id, message)
            return
        if "pong" in message and "op" not in message:
            return  # the answer to a ping: hearing from the client was all it had to do
        op = message.get("op")
        if op == "hello":
            client.error(request_id, "hello was already said; send requests now")
            return
        if not isinstance(op, str) or op not in OPERATION_ARGS:
            client.error(request_id, f"unknown op {op!r}; expected one of "
                                     f"{', '.join(OPERATION_ARGS)}")
            return
        args = message.get("args", {})
        if not isinstance(args, dict):
            client.error(request_id, f"{op}: args must be a JSON object, not {args!r}")
            return
        required, optional = OPERATION_ARGS[op]
        missing = [name for name in required if name not in args]
        unknown = [name for name in args if name not in required and name not in optional]
        if missing or unknown:
            wanted = ", ".join([*required, *(f"{name} (optional)" for name in optional)])
            problem = (f"missing {', '.join(missing)}" if missing
                       else f"unknown argument(s) {', '.join(map(repr, unknown))}")
            client.error(request_id, f"{op}: {problem}; it takes: {wanted or 'nothing'}")
            return
        if op == "sessions":  # the one reply that may need several messages
            client.errors_in_a_row = 0
            client.requests += 1
            self.operations += 1
            client.send_encoded(encode_in_parts({"id": request_id, "ok": True}, "sessions",
                                                self.sessions()))
            return
        try:
            result = self._run(client, op, args)
        except (ProtocolError, ValueError, TypeError, KeyError) as error:
            text = error.args[0] if isinstance(error, KeyError) and error.args else error
            client.error(request_id, f"{op}: {text}")
            return
        except Exception as error:  # a bug: answer, log, and keep serving
            log.exception("%s: %s failed", client, op)
            client.error(request_id, f"{op}: internal error in the daemon ({error!r})")
            return
        client.errors_in_a_row = 0
        client.requests += 1
        self.operations += 1
        client.send({"id": request_id, "ok": True, **result})

    def _hello(self, client: _Client, request_id: object, message: dict[str, Any]) -> None:
        if message.get("op") != "hello":
            client.error(request_id, 'expected hello first: {"op": "hello", "version": '
                                     f'{PROTOCOL_VERSION}, "pid": ..., "program": ...}}')
            return
        version = message.get("version")
        if version != PROTOCOL_VERSION:
            log.warning("%s speaks protocol version %r; this daemon speaks %d: closing",
                        client, version, PROTOCOL_VERSION)
            client.send({"id": request_id, "ok": False,
                         "error": f"protocol version {version!r} is not supported; this "
                                  f"daemon speaks version {PROTOCOL_VERSION}"})
            client.closing = True
            return
        try:
            program = message.get("program", "?")
            client.program = check_string(program, "program") if program != "?" else "?"
            if "devices" in message:
                client.devices = tuple(decode_devices(message["devices"]))
            features = message.get("features", [])
            if not isinstance(features, list):
                raise ProtocolError(f"features must be a list of strings, not {features!r}")
        except ProtocolError as error:
            client.error(request_id, f"hello: {error}")
            return
        client.answers_pings = "ping" in features
        client.greeted = True
        client.errors_in_a_row = 0
        log.info("%s connected (peer uid %d%s)", client, client.uid,
                 "" if client.answers_pings else "; it does not answer pings")
        client.send({"id": request_id, "ok": True, "version": PROTOCOL_VERSION,
                     "client": client.id, "daemon_pid": os.getpid(),
                     "features": list(self.features)})

    def _run(self, client: _Client, op: str, args: dict[str, Any]) -> dict[str, Any]:
        """One request; returns the reply's fields besides ``id`` and ``ok``."""
        arbiter = self.arbiter
        if op == "ping":
            return {}
        if op == "status":
            return self.status()
        if op == "play_file":
            if self.player is None:
                raise ValueError("this daemon plays no sounds (started with play_sounds off)")
            return self.player.play_file(client, args)
        if op == "add":
            session_id = check_string(args["session"], "session")
            context = check_string(args["context"], "context")
            owner = check_string(args["owner"], "owner")
            if session_id in client.sessions:
                raise ValueError(f"session {session_id!r} is already registered")
            if len(client.sessions) >= MAX_SESSIONS_PER_CLIENT:
                raise ValueError(f"a client may register {MAX_SESSIONS_PER_CLIENT} sessions "
                                 "at most")
            actions = arbiter.add(client.ns(session_id), client.ns(context), owner,
                                  args.get("type", "ambient"))
            client.sessions[session_id] = None
            return self._reply(client, actions, touched=[session_id], adding=True)
        if op in ("remove", "request_active", "release", "set_type"):
            session_id = self._own(client, args["session"])
            name = client.ns(session_id)
            if op == "remove":
                actions = arbiter.remove(name)
                del client.sessions[session_id]
                client.routes.pop(session_id, None)
                return self._reply(client, actions)
            if op == "release":
                return self._reply(client, arbiter.release(name))
            method = arbiter.request_active if op == "request_active" else arbiter.set_type
            return self._reply(client, method(name, args["type"]), touched=[session_id])
        if op == "interrupt":
            kind = args.get("kind", "transient")
            if kind not in INTERRUPTION_KINDS:
                raise ValueError(f"kind must be 'transient' or 'permanent', not {kind!r}")
            reason = check_string(args.get("reason", "external interruption"), "reason")
            actions = arbiter.interrupt(kind, reason)
            if kind == "transient":
                self.interruptions.setdefault(reason, set()).add(client.id)
            log.info("%s: %s interruption %r", client, kind, reason)
            return self._reply(client, actions)
        if op == "end_interruption":
            ending: str | None = None
            if args.get("reason") is not None:
                ending = check_string(args["reason"], "reason")
                self.interruptions.pop(ending, None)
            else:
                self.interruptions.clear()
            log.info("%s: end of interruption %r", client, ending or "(all)")
            return self._reply(client, arbiter.end_interruption(ending))
        if op == "set_devices":
            client.devices = tuple(decode_devices(args["devices"]))
            return self._reply(client, [], touched=list(client.sessions))
        if op == "device_removed":
            device = check_string(args["device"], "device")
            listed = args["sessions"]
            if not isinstance(listed, list):
                raise ProtocolError(f"sessions must be a list of session ids, not {listed!r}")
            sessions = [self._own(client, s) for s in listed]
            client.devices = tuple(d for d in client.devices if d.id != device)
            actions = arbiter.device_removed(device, [client.ns(s) for s in sessions])
            return self._reply(client, actions, touched=list(client.sessions),
                               forced=set(sessions))
        raise ProtocolError(f"unknown op {op!r}")  # pragma: no cover - checked by the caller

    def _own(self, client: _Client, session_id: object) -> str:
        checked = check_string(session_id, "session")
        if checked not in client.sessions:
            raise ProtocolError(f"no session {checked!r} of this client ({client.id}); "
                                "register it with add first")
        return checked

    # -- actions ------------------------------------------------------------------------------

    def _reply(
        self,
        client: _Client,
        actions: list[Action],
        *,
        touched: Iterable[str] = (),
        forced: set[str] | frozenset[str] = frozenset(),
        adding: bool = False,
    ) -> dict[str, Any]:
        own: list[dict[str, Any]] = []
        self._dispatch(client, actions, own=own, touched=touched, forced=forced, adding=adding)
        return {"actions": own}

    def _dispatch(
        self,
        requester: _Client | None,
        actions: Iterable[Action],
        *,
        own: list[dict[str, Any]] | None = None,
        touched: Iterable[str] = (),
        forced: set[str] | frozenset[str] = frozenset(),
        adding: bool = False,
    ) -> set[str]:
        """Split ``actions`` by client: the requester's go into ``own``, the others' are
        pushed. Routes come from each client's devices (``touched``: the requester's sessions
        whose route may have changed; ``forced``: those that get a route action anyway).
        Returns the ids of the clients pushed to."""
        per_client: dict[str, list[dict[str, Any]]] = {}
        bridged: list[Action] = []
        played: list[Action] = []
        if requester is not None:
            routes = self._routes(requester, touched, forced, adding)
            if routes:
                per_client[requester.id] = routes
        for action in actions:
            if isinstance(action, SetRoute):
                continue  # the arbiter has no devices here; routes are computed above
            if self.player is not None and self.player.owns(action.session_id):
                played.append(action)
                continue
            client_id, _, session_id = action.session_id.partition("/")
            if client_id not in self.clients:
                if client_id == BRIDGE_CLIENT:
                    bridged.append(action)
                continue
            per_client.setdefault(client_id, []).append(encode_action(action, session_id))
        pushed: set[str] = set()
        for client_id, encoded in per_client.items():
            if requester is not None and client_id == requester.id:
                if own is not None:
                    own.extend(encoded)
                continue
            target = self.clients[client_id]
            for start in range(0, len(encoded), PUSH_CHUNK):
                target.send({"push": "actions", "actions": encoded[start:start + PUSH_CHUNK]})
            pushed.add(client_id)
        if bridged and self.bridge is not None:
            self.bridge.apply(bridged)
        if played and self.player is not None:
            self.player.apply(played)
        return pushed

    def dispatch(self, actions: Iterable[Action]) -> None:
        """Apply ``actions`` decided outside a client's request (the bridge's foreign
        streams): push them to their clients, hand the bridge its own, flush."""
        self._dispatch(None, actions)
        self.flush()

    def client_pids(self) -> set[int]:
        """The process ids of the connected clients (safe to call from another thread)."""
        return {client.pid for client in list(self.clients.values())}

    def _routes(self, client: _Client, touched: Iterable[str], forced: set[str] | frozenset[str],
                adding: bool) -> list[dict[str, Any]]:
        routes: list[dict[str, Any]] = []
        for session_id in touched:
            if session_id not in client.sessions:
                continue
            type_ = self.arbiter.record(client.ns(session_id)).type
            route = route_for(type_, client.devices, self.config)
            previous = client.routes.get(session_id, _UNSET)
            client.routes[session_id] = route
            if adding and route is None:
                continue
            if route != previous or session_id in forced:
                routes.append(encode_action(SetRoute(session_id, route)))
        return routes

    # -- reports ------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The daemon itself (the ``status`` reply): its pid, protocol, clients and sessions,
        and whether its PulseAudio bridge is on (which server) or off (and why)."""
        return {
            "daemon_pid": os.getpid(),
            "version": PROTOCOL_VERSION,
            "features": list(self.features),
            "clients": len(self.clients),
            "not_answering": sum(1 for c in self.clients.values() if c.set_aside is not None),
            "sessions": len(self.arbiter.snapshot()),
            "bridge": self.bridge.status if self.bridge is not None else self._bridge_off,
        }

    def sessions(self) -> list[dict[str, Any]]:
        """Every session of every client, in registration order (the ``sessions`` reply)."""
        rows: list[dict[str, Any]] = []
        for record in self.arbiter.snapshot():
            client_id, _, session_id = record.id.partition("/")
            client = self.clients.get(client_id)
            pid, program = (client.pid, client.program) if client else (None, None)
            if client is None and client_id == BRIDGE_CLIENT and self.bridge is not None:
                row = self.bridge.describe(session_id)
                if row is not None:
                    pid, program = row.pid, row.program
            rows.append({
                "id": record.id,
                "client": client_id,
                "session": session_id,
                "pid": pid,
                "program": program,
                "owner": record.owner,
                "context": record.context,
                "type": record.type.value,
                "state": record.state.value,
                "gain": record.gain,
                "causes": _listed_causes(record.causes),
                "route": client.routes.get(session_id) if client else None,
            })
        return rows


async def _refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, why: str) -> None:
    """Tell a refused peer why, and take in its hello (at most one message, one second), so
    that closing does not reset the connection before it reads the reason."""
    writer.write(encode_message({"id": None, "ok": False, "error": why}))
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.drain(), 1.0)
        await asyncio.wait_for(reader.read(MAX_MESSAGE), 1.0)


def _listed_causes(causes: Sequence[str]) -> list[str]:
    """A row's causes, at most ``LISTED_CAUSES`` of them (a row must fit in a message)."""
    if len(causes) <= LISTED_CAUSES:
        return list(causes)
    return [*causes[:LISTED_CAUSES], f"and {len(causes) - LISTED_CAUSES} more"]


def _valid_id(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -(2**53) <= value <= 2**53
    return isinstance(value, str) and len(value) <= 64


def _open_own_file(path: Path, what: str) -> int:
    """Open (or create, 0600) ``path`` for reading and writing without following a symbolic
    link, and only if it is a regular file of this user with no other name: a file another
    user planted there (a link to a file of ours, say) is refused, never written."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as error:
        # ELOOP, or EACCES where the kernel protects links in sticky directories
        if error.errno == errno.ELOOP or os.path.islink(path):
            raise DaemonStartError(
                f"{what} {path} is a symbolic link; refusing to follow it (another user may "
                "have put it there to have this daemon overwrite a file). Remove it, or keep "
                "the socket in a directory of your own") from None
        raise DaemonStartError(f"cannot open {what} {path} ({error.strerror})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or info.st_nlink != 1:
        os.close(fd)
        raise DaemonStartError(
            f"{what} {path} is not a file of yours alone (uid {info.st_uid}, "
            f"{info.st_nlink} link(s)); remove it, or keep the socket in a directory of your "
            "own")
    return fd


def _make_private_dir(directory: Path) -> None:
    """``directory`` exists, is ours and is 0700 (created so if missing)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(directory)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise DaemonStartError(
            f"{directory} must be a directory owned by uid {os.getuid()} (it is "
            f"{'a directory' if stat.S_ISDIR(info.st_mode) else 'not a directory'} of uid "
            f"{info.st_uid}); remove it or set XDG_RUNTIME_DIR")
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(directory, 0o700)


# -- running it -------------------------------------------------------------------------------


async def _serve(daemon: Daemon, *, signals: bool) -> None:
    await daemon.start()
    loop = asyncio.get_running_loop()
    if signals:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, daemon.stop)
    try:
        await daemon.wait()
    finally:
        await daemon.close()


def serve(
    socket_path: str | os.PathLike[str] | None = None,
    *,
    config: PolicyConfig | None = None,
    pulse_bridge: bool = True,
    play_sounds: bool = True,
) -> None:
    """Run the daemon in this thread until SIGTERM or SIGINT (``audiosession daemon``).

    ``socket_path``: default ``$XDG_RUNTIME_DIR/audiosession/daemon.sock``; ``config``:
    default ``find_config()``; ``pulse_bridge``: bridge foreign PulseAudio / PipeWire streams
    (docs/bridge.md); ``play_sounds``: play files for clients (``audiosession notify``).
    Raises ``DaemonStartError`` if another daemon serves the socket or its directory is not
    private."""
    asyncio.run(_serve(Daemon(socket_path, config, pulse_bridge=pulse_bridge,
                              play_sounds=play_sounds), signals=True))


class DaemonThread:
    """A daemon served by a thread of this process (tests, benchmarks)::

        with DaemonThread(Daemon(path)) as daemon: ...
    """

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> DaemonThread:
        """Start serving; raises what ``Daemon.start`` raised."""
        self._thread = threading.Thread(target=self._main, name="audiosession-daemon",
                                        daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error
        return self

    def _main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            try:
                await self.daemon.start()
            except BaseException as error:
                self._error = error
                self._ready.set()
                return
            self._ready.set()
            try:
                await self.daemon.wait()
            finally:
                await self.daemon.close()

        asyncio.run(main())

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self.daemon.stop)
            self._thread.join(10)

    def __enter__(self) -> DaemonThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
