"""The daemon's transport: its Unix socket, the connections and their framing, and the liveness
pings (docs/design.md, *What it is*, docs/protocol.md).

A thin layer around ``DaemonService`` (``daemon/service.py``), which is the daemon itself: one
policy for every audiosession process of the user, a message in and replies and pushes out.
This module only moves bytes for it: it takes the single-instance lock and binds the socket
(``daemon/listener.py``), accepts a connection only from a process of the daemon's user
(peer credentials from the kernel), cuts what a client sends into lines of at most
``MAX_MESSAGE`` bytes and hands them to the service, and writes out what the service queued
— dropping a client that leaves more than ``MAX_WRITE_BUFFER`` bytes unread. It pings the
clients that answer pings and tells the service which ones stopped answering.

The daemon never dies of a client: every message is bounded and checked, every handler is
guarded, a client that keeps sending garbage or stops reading is disconnected, and a client
that goes away (exit, crash, ``kill -9``) has its sessions removed at once, releasing whatever
they ducked, paused or delayed elsewhere.

With ``pulse_bridge``, the streams of programs that do not use this package are sessions of a
built-in pseudo-client ``pulse`` (``daemon/bridge/``, docs/bridge.md); ``Daemon`` is the
bridge's host (``BridgeHost``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from audiosession.daemon.bridge import PulseBridge
from audiosession.daemon.connected_client import ConnectedClient
from audiosession.daemon.listener import (
    DaemonStartError,
    bind_socket,
    check_socket_directory,
    take_lock,
)
from audiosession.daemon.player import DaemonPlayer
from audiosession.daemon.service import DaemonService
from audiosession.policy import Action, PolicyConfig, find_config
from audiosession.wire.endpoint import default_socket_path
from audiosession.wire.peercred import peer_credentials
from audiosession.wire.protocol import MAX_MESSAGE, OVERSIZED, LineDecoder, encode_message

log = logging.getLogger(__name__)

__all__ = ["Daemon", "DaemonStartError", "DaemonThread", "serve"]

MAX_CLIENTS = 1000
"""Connections served at once; more are refused with an error. As many may wait in the
socket's accept queue: a crowd of processes starting at once (a login) while the daemon is
busy waits to be served rather than be turned away by a full queue (a client's ``connect``
fails at once with EAGAIN then, and it decides for itself)."""

MAX_WRITE_BUFFER = 1024 * 1024
"""Bytes of replies and pushes a client may leave unread before it is dropped."""

READ_CHUNK = 64 * 1024

PING_INTERVAL = 1.0
"""Seconds between liveness pings to a client that answers them (at most one unanswered)."""

ANSWER_DEADLINE = 2.0
"""Seconds a client has to answer a ping. One that has not is taken for stopped or hung
(``SIGSTOP``, a debugger, a livelock): its sessions are set aside — they stop affecting
the others — until it sends anything again, when they are registered anew."""

LIVENESS_TICK = 0.1
"""Seconds between the daemon's checks of the pings it is waiting for."""


class _Connection:
    """One client's end of the socket: where its messages are written, and its pings."""

    def __init__(self, client: ConnectedClient, writer: asyncio.StreamWriter) -> None:
        self.client = client
        self.writer = writer
        self.aborted = False
        self.ping_token = 0
        self.ping_sent: float | None = None  # time.monotonic() of the unanswered ping
        self.last_ping = time.monotonic()

    def write(self, data: bytes) -> None:
        """Write ``data`` (one system call for a batch of replies and pushes); a client
        that leaves too much unread is dropped."""
        if self.aborted or self.writer.is_closing():
            return
        self.writer.write(data)
        transport = self.writer.transport
        if transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            log.warning(
                "%s does not read its messages (over %d bytes unread): dropping it",
                self.client,
                MAX_WRITE_BUFFER,
            )
            self.client.closing = self.aborted = True
            transport.abort()


class Daemon:
    """The daemon's service and its asyncio server. ``start()`` binds the socket; ``wait()``
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
        self.socket_path = (
            Path(socket_path) if socket_path is not None else Path(default_socket_path())
        )
        self.service = DaemonService(config if config is not None else find_config())
        self.arbiter = self.service.arbiter  # what the bridge decides with (``BridgeHost``)
        self.allowed_uid = os.getuid() if allowed_uid is None else allowed_uid
        self._connections: dict[str, _Connection] = {}  # by client id
        self._server: asyncio.AbstractServer | None = None
        self._stopped: asyncio.Event | None = None
        self._lock_file: int | None = None
        self.pulse_bridge = pulse_bridge
        self.pulse_server = pulse_server
        self.ping_interval = ping_interval
        self.answer_deadline = answer_deadline
        self._liveness: asyncio.Task[None] | None = None
        if play_sounds:
            self.service.player = DaemonPlayer(self)

    @property
    def config(self) -> PolicyConfig:
        """The policy the daemon runs."""
        return self.service.config

    @property
    def clients(self) -> dict[str, ConnectedClient]:
        """The connected clients, by id."""
        return self.service.clients

    def sessions(self) -> list[dict[str, Any]]:
        """Every session of every client (the ``sessions`` reply's rows)."""
        return self.service.sessions()

    def status(self) -> dict[str, Any]:
        """The daemon itself (the ``status`` reply)."""
        return self.service.status()

    def dispatch(self, actions: Iterable[Action]) -> None:
        """Apply ``actions`` decided outside a client's request (the bridge's foreign
        streams): push them to their clients, hand the bridge its own, write them out."""
        self.service.dispatch(actions)
        self.flush()

    def client_pids(self) -> set[int]:
        """The process ids of the connected clients (safe to call from another thread)."""
        return self.service.client_pids()

    def pids_adopting_descendants(self) -> set[int]:
        """The process ids of the clients that adopt their descendants' streams."""
        return self.service.pids_adopting_descendants()

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Take the single-instance lock, bind the socket (0600 in a 0700 directory), listen."""
        self._stopped = asyncio.Event()
        check_socket_directory(self.socket_path, private=self._private_dir)
        self._lock_file = take_lock(self.socket_path)
        try:
            if self.service.player is not None:  # before serving (see DaemonPlayer.start)
                await self.service.player.start()
            sock = bind_socket(self.socket_path, backlog=MAX_CLIENTS)
            self._server = await asyncio.start_unix_server(
                self._serve_client, sock=sock, backlog=MAX_CLIENTS
            )
        except BaseException:
            self._release_lock()
            raise
        log.info(
            "audiosession daemon (pid %d) listening on %s for uid %d; policy: %r",
            os.getpid(),
            self.socket_path,
            self.allowed_uid,
            self.config,
        )
        self._liveness = asyncio.create_task(self._watch_liveness())
        if self.pulse_bridge:
            try:
                bridge = PulseBridge(
                    self, self.socket_path.with_name("volumes.json"), self.pulse_server
                )
            except ImportError as error:
                self.service.bridge_off = f"off: {error} (pip install pulsectl)"
                log.warning("PulseAudio bridge %s", self.service.bridge_off)
            else:
                self.service.bridge = bridge
                bridge.start(asyncio.get_running_loop())
        else:
            log.info("PulseAudio bridge %s", self.service.bridge_off)

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
        for connection in list(self._connections.values()):
            connection.client.closing = True
            connection.writer.close()
        for connection in list(self._connections.values()):
            self._drop(connection.client, "daemon stopping")
        if self.service.player is not None:
            await self.service.player.close()
        bridge, self.service.bridge = self.service.bridge, None
        if bridge is not None:  # gives every foreign stream back its volume and mute
            await asyncio.get_running_loop().run_in_executor(None, bridge.close)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        self._release_lock()
        log.info("audiosession daemon stopped")

    def _release_lock(self) -> None:
        if self._lock_file is not None:
            os.close(self._lock_file)
            self._lock_file = None

    # -- connections --------------------------------------------------------------------------

    async def _serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        client: ConnectedClient | None = None
        try:
            sock = writer.get_extra_info("socket")
            pid, uid, _ = peer_credentials(sock)
            if uid != self.allowed_uid:
                log.warning(
                    "refused a connection from uid %d (pid %d): this daemon serves uid %d only",
                    uid,
                    pid,
                    self.allowed_uid,
                )
                await _refuse(
                    reader,
                    writer,
                    f"refused: uid {uid} is not this daemon's user "
                    f"(uid {self.allowed_uid}); run your own daemon",
                )
                return
            if len(self._connections) >= MAX_CLIENTS:
                log.warning("refused pid %d: already %d clients", pid, len(self._connections))
                await _refuse(
                    reader, writer, f"refused: the daemon serves {MAX_CLIENTS} clients at most"
                )
                return
            client = self.service.connect(pid, uid)
            connection = _Connection(client, writer)
            self._connections[client.id] = connection
            await self._read(connection, reader)
        except (ConnectionError, OSError) as error:
            log.debug("%s: connection error %s", client, error)
        except Exception:  # never die of a client
            log.exception("unexpected error serving %s", client)
        finally:
            if client is not None:
                self._drop(client, "disconnected")
            with contextlib.suppress(Exception):
                writer.close()

    async def _read(self, connection: _Connection, reader: asyncio.StreamReader) -> None:
        client = connection.client
        decoder = LineDecoder(MAX_MESSAGE)
        while not client.closing:
            data = await reader.read(READ_CHUNK)
            if not data:
                return
            self._heard_from(connection)
            try:
                for item in decoder.feed(data):
                    if item is OVERSIZED:
                        self.service.message_too_long(client)
                    else:
                        assert isinstance(item, bytes)
                        self.service.receive(client, item)
                    if client.closing:
                        return
            finally:
                self.flush()

    def flush(self) -> None:
        """Write out every client's queued replies and pushes."""
        for client, data in self.service.take_output():
            connection = self._connections.get(client.id)
            if connection is not None:
                connection.write(data)

    def _drop(self, client: ConnectedClient, why: str) -> None:
        """The client is gone: the service removes its sessions and tells the others."""
        self.service.disconnect(client, why)
        self._connections.pop(client.id, None)
        self.flush()

    # -- liveness -----------------------------------------------------------------------------

    async def _watch_liveness(self) -> None:
        """Ping every client that answers pings, one ping at a time; have the service set
        aside the sessions of one that has not answered within ``answer_deadline``."""
        while True:
            await asyncio.sleep(LIVENESS_TICK)
            now = time.monotonic()
            for connection in list(self._connections.values()):
                client = connection.client
                if not client.answers_pings or client.closing or client.set_aside is not None:
                    continue
                if connection.ping_sent is None:
                    if now - connection.last_ping >= self.ping_interval:
                        connection.ping_token += 1
                        connection.ping_sent = connection.last_ping = now
                        client.send({"push": "ping", "token": connection.ping_token})
                elif now - connection.ping_sent >= self.answer_deadline:
                    self.service.set_aside(client, since=connection.ping_sent)
                    self.flush()
            self.flush()

    def _heard_from(self, connection: _Connection) -> None:
        """Anything from a client shows it runs: its ping is answered, and what was set aside
        for it is applied again before its message is handled."""
        connection.ping_sent = None
        self.service.heard_from(connection.client)


async def _refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, why: str) -> None:
    """Tell a refused peer why, and take in its hello (at most one message, one second), so
    that closing does not reset the connection before it reads the reason."""
    writer.write(encode_message({"id": None, "ok": False, "error": why}))
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.drain(), 1.0)
        await asyncio.wait_for(reader.read(MAX_MESSAGE), 1.0)


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
    asyncio.run(
        _serve(
            Daemon(socket_path, config, pulse_bridge=pulse_bridge, play_sounds=play_sounds),
            signals=True,
        )
    )


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
        self._thread = threading.Thread(target=self._main, name="audiosession-daemon", daemon=True)
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
