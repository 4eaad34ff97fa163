"""The daemon client platform: this process's sessions, decided by the system daemon.

``DaemonClientPlatform`` is a ``PolicyPlatform`` whose decisions come from the daemon
(``audiosession daemon``), which runs the same ``Arbiter`` for every program of the user: each
``_decide`` is one request on a Unix socket (``DaemonConnection``), answered with the actions
for this process's sessions. Actions the daemon decides for this process because of another one
(a notification elsewhere ducks our music) arrive as pushes on a reader thread and are applied
as tasks on the loop, in the order the daemon sent them.

If the daemon goes away, the platform says so in the log and decides locally (an ``Arbiter``
of its own, with this process's sessions re-added: the active ones stay active), and tries to
reconnect every ``reconnect_interval`` seconds; once back, it registers its sessions anew
(the active and held ones ask to be active again: the policy decides which may).
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from audiosession.loop import TaskLoop, Timer
from audiosession.platforms.base import SessionInfo
from audiosession.platforms.daemon_connection import (
    REQUEST_TIMEOUT,
    DaemonConnection,
    DaemonError,
    DaemonLostError,
    DaemonUnavailableError,
    UntrustedDaemonError,
)
from audiosession.platforms.policy_platform import PolicyPlatform
from audiosession.policy import Action, Arbiter
from audiosession.types import AudioSessionState, AudioSessionType
from audiosession.wire.endpoint import default_socket_path
from audiosession.wire.protocol import decode_actions, encode_args

log = logging.getLogger(__name__)

__all__ = ["DaemonClientPlatform"]

RECONNECT_INTERVAL = 0.5
"""Seconds between attempts to find the daemon again after it went away."""

ACTIVE = AudioSessionState.ACTIVE
INTERRUPTED = AudioSessionState.INTERRUPTED


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
        self._adopts_children: bool | None = None  # told the daemon (``own_streams``)
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

    def adopting_own_streams(self, children: bool) -> None:
        """Tells the daemon (``own_streams``), now and after each reconnection, so that its
        bridge leaves these streams alone."""
        with self.loop.lock:
            self._adopts_children = children
            conn = self._conn
            if conn is None:
                return
            try:
                self._tell_own_streams(conn)
            except DaemonLostError as error:
                self._lose(conn, str(error))

    def _tell_own_streams(self, conn: DaemonConnection) -> None:
        if self._adopts_children is None:
            return
        try:
            conn.request("own_streams", {"children": self._adopts_children}, self.request_timeout)
        except DaemonLostError:
            raise
        except DaemonError as error:  # a daemon older than the operation
            log.info("the daemon does not take own_streams (%s): it may bridge them", error)

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
                self._tell_own_streams(conn)
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
            return self._session_rows(self._local)

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
