"""The daemon as a service: a client's message in, its reply and the pushes it causes out.

This is the daemon with the sockets taken away (docs/protocol.md): one policy
(``policy.Arbiter``) for every audiosession process of the user. The transport
(``daemon/server.py``) accepts connections, cuts the byte stream into lines and writes out
what this service queued; everything else happens here, synchronously and on one thread (the
daemon's event loop), so it can be exercised without a socket (tests/daemon/test_service.py):

- ``connect()`` a client; ``receive(client, line)`` one line it sent; ``take_output()`` the
  encoded messages queued since, client by client (replies to the asker, pushes to the
  others); ``disconnect()`` a client that went away, releasing what its sessions held.
- Validation: a message is decoded and checked (the hello first, the operation, its
  arguments, the session ids a client may name); every mistake is an error reply that says
  what was wrong, and a client that keeps making them is marked ``closing``.
- Session ids and contexts are namespaced per client (``<client>/<id>``,
  ``ConnectedClient.namespaced``) so the policy's table applies between the windows of
  different processes as it does between the windows of one.
- Fan-out: the actions an operation causes are split by client — the asker's go into its
  reply, the others' are pushed — and routes are computed per client from its own devices
  (the Arbiter runs without devices: each process has its own backend). The actions of the
  pseudo-client ``pulse`` go to the PulseAudio / PipeWire bridge (docs/bridge.md).
- Liveness: a client the transport finds not answering has its sessions ``set_aside`` (they
  leave the policy) until ``heard_from`` brings them back.

**Operations** are dispatched through one table, ``DaemonService.HANDLERS``: the operation's
name to its handler, a method that takes the client and its checked ``args`` and returns the
reply's fields (or ``InParts`` for a reply of many rows). The arguments each operation takes
are the wire format's, ``wire.protocol.OPERATION_ARGS``, which the service checks before
the handler runs. So adding an operation is: its arguments in ``OPERATION_ARGS``, one handler
method here, one line in ``HANDLERS`` (and a row in docs/protocol.md's table). A handler raises
``ProtocolError`` / ``ValueError`` / ``TypeError`` / ``KeyError`` for a bad request (the client
gets ``"<op>: <message>"``); anything else it raises is a bug, logged and answered as an
internal error.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from audiosession.daemon.bridge import BRIDGE_CLIENT, PulseBridge
from audiosession.daemon.connected_client import ConnectedClient, SetAside
from audiosession.daemon.player import DaemonPlayer
from audiosession.policy import (
    Action,
    Arbiter,
    ArbiterRecord,
    PolicyConfig,
    SetRoute,
    check_interruption_kind,
    route_for,
)
from audiosession.types import AudioSessionState
from audiosession.wire.endpoint import PROTOCOL_VERSION
from audiosession.wire.protocol import (
    MAX_MESSAGE,
    OPERATION_ARGS,
    ProtocolError,
    check_string,
    decode_devices,
    decode_message,
    encode_action,
)

log = logging.getLogger(__name__)

__all__ = ["DaemonService", "InParts"]


MAX_SESSIONS_PER_CLIENT = 256
"""Sessions one client may register (keeps every reply under ``MAX_MESSAGE``)."""


PUSH_CHUNK = 200
"""Actions in one push message at most (keeps pushes under ``MAX_MESSAGE``)."""

FEATURES = ("ping", "sessions-in-parts")
"""What this daemon does beyond version 1's first form (its hello reply lists them)."""

LISTED_CAUSES = 16
"""Causes listed in one ``sessions`` row at most; more are counted ("and 40 more")."""

_UNSET = object()


@dataclass(frozen=True)
class InParts:
    """A reply of many ``rows`` under ``key``, sent in as many messages as they need, each
    with ``"more"`` (docs/protocol.md, "The sessions reply in parts")."""

    key: str
    rows: list[dict[str, Any]]


Reply = dict[str, Any] | InParts
"""What a handler returns: the reply's fields besides ``id`` and ``ok``, or ``InParts``."""

Handler = Callable[["DaemonService", ConnectedClient, dict[str, Any]], Reply]
"""An operation's handler: the service, the asking client and its checked ``args``."""


class DaemonService:
    """The daemon's policy and clients, without a socket (see the module's docstring).

    ``bridge`` is the PulseAudio / PipeWire bridge when the transport started one (its
    pseudo-client's actions go there, its streams' rows come from it); ``bridge_off`` says why
    there is none."""

    def __init__(self, config: PolicyConfig) -> None:
        self.config = config
        self.arbiter = Arbiter(config)  # no devices: routes are per client (see module)
        self.clients: dict[str, ConnectedClient] = {}
        self.interruptions: dict[str, set[str]] = {}  # transient reason -> clients holding it
        self.operations = 0
        self.bridge: PulseBridge | None = None
        self.player: DaemonPlayer | None = None
        """Plays files for clients (``play_file``) when the transport started one."""
        self.bridge_off = "off (not asked for; --no-pulse-bridge)"
        self._outbox: dict[ConnectedClient, None] = {}  # clients with messages queued, in order
        self._ids = itertools.count(1)

    # -- clients ------------------------------------------------------------------------------

    def connect(self, pid: int, uid: int) -> ConnectedClient:
        """A new client (``pid``, ``uid``: its peer credentials); it says hello next."""
        client = ConnectedClient(f"c{next(self._ids)}", pid, uid, self._outbox)
        self.clients[client.id] = client
        return client

    def disconnect(self, client: ConnectedClient, why: str) -> None:
        """The client is gone: remove its sessions at once and tell the others."""
        if self.clients.get(client.id) is not client:
            return
        started = time.perf_counter()
        del self.clients[client.id]
        client.closing = True
        removed, _, told = self._withdraw(client)
        if self.player is not None:
            self.player.client_gone(client)
        elapsed = (time.perf_counter() - started) * 1000
        if client.greeted or removed:
            log.info(
                "%s %s: %d session(s) removed, %d other client(s) told in %.2f ms "
                "(%d requests, %d errors)",
                client,
                why,
                len(removed),
                len(told),
                elapsed,
                client.requests,
                client.errors_total,
            )
        else:
            log.debug("%s %s before its hello (%d errors)", client, why, client.errors_total)

    def client_pids(self) -> set[int]:
        """The process ids of the connected clients (safe to call from another thread)."""
        return {client.pid for client in list(self.clients.values())}

    def pids_adopting_descendants(self) -> set[int]:
        """The process ids of the clients that adopt their descendants' streams (safe to call
        from another thread)."""
        return {c.pid for c in list(self.clients.values()) if c.adopts_descendants}

    def take_output(self) -> list[tuple[ConnectedClient, bytes]]:
        """The messages queued since the last call, joined per client, in the order the
        clients were first sent to; the transport writes them out."""
        clients = list(self._outbox)
        self._outbox.clear()
        output = [(client, b"".join(client.outgoing)) for client in clients]
        for client in clients:
            client.outgoing.clear()
        return output

    # -- liveness -----------------------------------------------------------------------------

    def set_aside(self, client: ConnectedClient, since: float) -> None:
        """``client`` has not answered a ping sent at ``since`` (``time.monotonic()``): its
        sessions leave the policy (whatever they ducked, paused or delayed is released), kept
        aside for when it answers again."""
        started = time.perf_counter()
        records, reasons, told = self._withdraw(client)
        client.set_aside = SetAside(since, records, reasons)
        if self.player is not None:
            self.player.set_aside(client)
        log.warning(
            "%s has not answered a ping for %.1f s (stopped or hung): its %d "
            "session(s) no longer affect others until it answers; %d other client(s) "
            "told in %.2f ms",
            client,
            time.monotonic() - since,
            len(records),
            len(told - {client.id}),
            (time.perf_counter() - started) * 1000,
        )

    def heard_from(self, client: ConnectedClient) -> None:
        """Anything from a client shows it runs: what was set aside for it is applied again
        (before its message is handled)."""
        if client.set_aside is not None:
            self._bring_back(client)

    def _withdraw(self, client: ConnectedClient) -> tuple[list[ArbiterRecord], list[str], set[str]]:
        """Take ``client``'s sessions out of the policy, and end the transient interruptions
        it alone made; the others are told. Returns the sessions as the arbiter had them, the
        interruptions it held and the ids of the clients pushed to."""
        told: set[str] = set()
        records: list[ArbiterRecord] = []
        for session_id in list(client.sessions):
            name = client.namespaced(session_id)
            try:
                records.append(self.arbiter.record(name))
            except KeyError:  # pragma: no cover - the bookkeeping agrees with the arbiter
                continue
            told |= self._dispatch(None, self.arbiter.remove(name))
        client.sessions.clear()
        reasons = [r for r, holders in self.interruptions.items() if client.id in holders]
        for reason in reasons:
            holders = self.interruptions[reason]
            holders.discard(client.id)
            if not holders:
                del self.interruptions[reason]
                told |= self._dispatch(None, self.arbiter.end_interruption(reason))
        return records, reasons, told

    def _bring_back(self, client: ConnectedClient) -> None:
        """``client`` answers again: its sessions are registered anew — added, then the active
        and held ones ask to be active, as a client that reconnects does — and its
        interruptions are made again."""
        aside, client.set_aside = client.set_aside, None
        assert aside is not None
        for record in aside.sessions:
            session_id = record.id.partition("/")[2]
            client.sessions[session_id] = None
            self._dispatch(
                None, self.arbiter.add(record.id, record.context, record.owner, record.type)
            )
        for record in aside.sessions:
            if record.state in (AudioSessionState.ACTIVE, AudioSessionState.INTERRUPTED):
                self._dispatch(None, self.arbiter.request_active(record.id, record.type))
        for reason in aside.interruptions:
            self.interruptions.setdefault(reason, set()).add(client.id)
            self._dispatch(None, self.arbiter.interrupt("transient", reason))
        if self.player is not None:
            self.player.bring_back(client)
        log.info(
            "%s answers again after %.1f s: its %d session(s) take part again",
            client,
            time.monotonic() - aside.since,
            len(aside.sessions),
        )

    # -- messages -----------------------------------------------------------------------------

    def receive(self, client: ConnectedClient, line: bytes) -> None:
        """One line from ``client`` (without its newline): its reply and any pushes are
        queued. A bug in handling it is logged and answered, never a lost connection (a
        client's request must not cost it its sessions)."""
        try:
            self._receive(client, line)
        except Exception as error:
            log.exception("%s: handling a message failed", client)
            client.error(None, f"internal error in the daemon ({error!r})")

    def message_too_long(self, client: ConnectedClient) -> None:
        """``client`` sent a line over ``MAX_MESSAGE`` bytes (the transport drops the rest)."""
        client.error(None, f"message longer than {MAX_MESSAGE} bytes; discarded")

    def _receive(self, client: ConnectedClient, line: bytes) -> None:
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
            client.error(
                request_id, f"unknown op {op!r}; expected one of {', '.join(OPERATION_ARGS)}"
            )
            return
        args = message.get("args", {})
        if not isinstance(args, dict):
            client.error(request_id, f"{op}: args must be a JSON object, not {args!r}")
            return
        problem = _argument_problem(op, args)
        if problem is not None:
            client.error(request_id, f"{op}: {problem}")
            return
        try:
            reply = self.HANDLERS[op](self, client, args)
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
        if isinstance(reply, InParts):
            client.send_in_parts({"id": request_id, "ok": True}, reply.key, reply.rows)
        else:
            client.send({"id": request_id, "ok": True, **reply})

    def _hello(self, client: ConnectedClient, request_id: object, message: dict[str, Any]) -> None:
        if message.get("op") != "hello":
            client.error(
                request_id,
                'expected hello first: {"op": "hello", "version": '
                f'{PROTOCOL_VERSION}, "pid": ..., "program": ...}}',
            )
            return
        version = message.get("version")
        if version != PROTOCOL_VERSION:
            log.warning(
                "%s speaks protocol version %r; this daemon speaks %d: closing",
                client,
                version,
                PROTOCOL_VERSION,
            )
            client.send(
                {
                    "id": request_id,
                    "ok": False,
                    "error": f"protocol version {version!r} is not supported; this "
                    f"daemon speaks version {PROTOCOL_VERSION}",
                }
            )
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
        if self.bridge is not None:  # its streams bridged before it connected are its own
            self.bridge.reconsider()
        client.errors_in_a_row = 0
        log.info(
            "%s connected (peer uid %d%s)",
            client,
            client.uid,
            "" if client.answers_pings else "; it does not answer pings",
        )
        client.send(
            {
                "id": request_id,
                "ok": True,
                "version": PROTOCOL_VERSION,
                "client": client.id,
                "daemon_pid": os.getpid(),
                "features": list(self.features),
            }
        )

    def _own(self, client: ConnectedClient, session_id: object) -> str:
        """``session_id`` if it names one of ``client``'s sessions, else a ProtocolError."""
        checked = check_string(session_id, "session")
        if checked not in client.sessions:
            raise ProtocolError(
                f"no session {checked!r} of this client ({client.id}); register it with add first"
            )
        return checked

    # -- the operations: one handler each, dispatched through HANDLERS (end of the class) ---

    def _handle_add(self, client: ConnectedClient, args: dict[str, Any]) -> Reply:
        session_id = check_string(args["session"], "session")
        context = check_string(args["context"], "context")
        owner = check_string(args["owner"], "owner")
        if session_id in client.sessions:
            raise ValueError(f"session {session_id!r} is already registered")
        if len(client.sessions) >= MAX_SESSIONS_PER_CLIENT:
            raise ValueError(f"a client may register {MAX_SESSIONS_PER_CLIENT} sessions at most")
        actions = self.arbiter.add(
            client.namespaced(session_id),
            client.namespaced(context),
            owner,
            args.get("type", "ambient"),
        )
        client.sessions[session_id] = None
        return self._reply(client, actions, touched=[session_id], adding=True)

    def _handle_remove(self, client: ConnectedClient, args: dict[str, Any]) -> Reply:
        session_id = self._own(client, args["session"])
        actions = self.arbiter.remove(client.namespaced(session_id))
        del client.sessions[session_id]
        client.routes.pop(session_id, None)
        return self._reply(client, actions)

    def _handle_request_active(self, client: ConnectedClient, args: dict[str, Any]) -> Reply:
        session_id = self._own(client, args["session"])
        actions = self.arbiter.request_active(client.namespaced(session_id), args["type"])
        return self._reply(client, actions, touched=[session_id])

    def _handle_release(self, client: ConnectedClient, args: dict[str, Any]) -> Reply:
        session_id = self._own(client, args["session"])
        return self._reply(client, self.arbiter.release(client.namespaced(session_id)))

    def _handle_set_type(self, client: ConnectedClient, args: dict[str, Any]) -> Reply:
        session_id = self._own(client, args["session"])
        actions = self.arbiter.set_type(client.namespaced(session_id), args["type"])
        return self._reply(client, actions, touched=[session_id])

    def _handle_interrupt(self, client: ConnectedClient, args: dict[str, Any]) -> Reply:
        kind = check_interruption_kind(args.get("kind", "transient"))
        reason = check_string(args.get("reason", "external interruption"), "reason")
        actions = self.arbiter.interrupt(kind, reason)
        if kind == "transient":
            self.interruptions.setdefault(reason, set()).add(client.id)
        log.info("%s: %s interruption %r", client, kind, reason)
        return self._reply(client, actions)

    def _handle_end_interruption(self, client: ConnectedClient, args: dict[str, Any]) -> Reply:
        ending: str | None = None
        if args.get("reason") is not None:
            ending = check_string(args["reason"], "reason")
            self.interruptions.pop(ending, None)
        else:
            self.interruptions.clear()
        log.info("%s: end of interruption %r", client, ending or "(all)")
        return self._reply(client, self.arbiter.end_interruption(ending))

    def _handle_set_devices(self, client: ConnectedClient, args: dict[str, Any]) -> Reply:
        client.devices = tuple(decode_devices(args["devices"]))
        return self._reply(client, [], touched=list(client.sessions))

    def _handle_device_removed(self, client: ConnectedClient, args: dict[str, Any]) -> Reply:
        device = check_string(args["device"], "device")
        listed = args["sessions"]
        if not isinstance(listed, list):
            raise ProtocolError(f"sessions must be a list of session ids, not {listed!r}")
        sessions = [self._own(client, s) for s in listed]
        client.devices = tuple(d for d in client.devices if d.id != device)
        actions = self.arbiter.device_removed(device, [client.namespaced(s) for s in sessions])
        return self._reply(client, actions, touched=list(client.sessions), forced=set(sessions))

    def _handle_sessions(self, client: ConnectedClient, args: dict[str, Any]) -> Reply:
        return InParts("sessions", self.sessions())

    def _handle_status(self, client: ConnectedClient, args: dict[str, Any]) -> Reply:
        return self.status()

    def _handle_ping(self, client: ConnectedClient, args: dict[str, Any]) -> Reply:
        return {}

    def _handle_play_file(self, client: ConnectedClient, args: dict[str, Any]) -> Reply:
        if self.player is None:
            raise ValueError("this daemon plays no sounds (started with play_sounds off)")
        return self.player.play_file(client, args)

    def _handle_own_streams(self, client: ConnectedClient, args: dict[str, Any]) -> Reply:
        children = args["children"]
        if not isinstance(children, bool):
            raise ProtocolError(f"children must be true or false, not {children!r}")
        client.adopts_descendants = children
        log.info(
            "%s adopts its own streams%s",
            client,
            " and its child processes'" if children else "",
        )
        if self.bridge is not None:
            self.bridge.reconsider()
        return {}

    HANDLERS: ClassVar[Mapping[str, Handler]] = {
        "add": _handle_add,
        "remove": _handle_remove,
        "request_active": _handle_request_active,
        "release": _handle_release,
        "set_type": _handle_set_type,
        "interrupt": _handle_interrupt,
        "end_interruption": _handle_end_interruption,
        "set_devices": _handle_set_devices,
        "device_removed": _handle_device_removed,
        "sessions": _handle_sessions,
        "status": _handle_status,
        "ping": _handle_ping,
        "play_file": _handle_play_file,
        "own_streams": _handle_own_streams,
    }
    """Each operation of ``wire.protocol.OPERATION_ARGS`` and its handler."""

    # -- actions ------------------------------------------------------------------------------

    def _reply(
        self,
        client: ConnectedClient,
        actions: list[Action],
        *,
        touched: Iterable[str] = (),
        forced: set[str] | frozenset[str] = frozenset(),
        adding: bool = False,
    ) -> dict[str, Any]:
        """The reply of an Arbiter operation: the asker's actions; the others' are pushed."""
        own: list[dict[str, Any]] = []
        self._dispatch(client, actions, own=own, touched=touched, forced=forced, adding=adding)
        return {"actions": own}

    def _dispatch(
        self,
        requester: ConnectedClient | None,
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
                target.send({"push": "actions", "actions": encoded[start : start + PUSH_CHUNK]})
            pushed.add(client_id)
        if bridged and self.bridge is not None:
            self.bridge.apply(bridged)
        if played and self.player is not None:
            self.player.apply(played)
        return pushed

    def dispatch(self, actions: Iterable[Action]) -> None:
        """Apply ``actions`` decided outside a client's request (the bridge's foreign
        streams): push them to their clients, hand the bridge its own."""
        self._dispatch(None, actions)

    def _routes(
        self,
        client: ConnectedClient,
        touched: Iterable[str],
        forced: set[str] | frozenset[str],
        adding: bool,
    ) -> list[dict[str, Any]]:
        routes: list[dict[str, Any]] = []
        for session_id in touched:
            if session_id not in client.sessions:
                continue
            type_ = self.arbiter.record(client.namespaced(session_id)).type
            route = route_for(type_, client.devices, self.config)
            previous = client.routes.get(session_id, _UNSET)
            client.routes[session_id] = route
            if adding and route is None:
                continue
            if route != previous or session_id in forced:
                routes.append(encode_action(SetRoute(session_id, route)))
        return routes

    # -- reports ------------------------------------------------------------------------------

    @property
    def features(self) -> tuple[str, ...]:
        """What this daemon does beyond protocol version 1's first form (its hello says)."""
        return (*FEATURES, "play-file") if self.player is not None else FEATURES

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
            "bridge": self.bridge.status if self.bridge is not None else self.bridge_off,
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
            rows.append(
                {
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
                }
            )
        return rows


def _argument_problem(op: str, args: Mapping[str, Any]) -> str | None:
    """What is wrong with the names in ``args`` for ``op`` (``OPERATION_ARGS``), or None."""
    required, optional = OPERATION_ARGS[op]
    missing = [name for name in required if name not in args]
    unknown = [name for name in args if name not in required and name not in optional]
    if not missing and not unknown:
        return None
    wanted = ", ".join([*required, *(f"{name} (optional)" for name in optional)])
    problem = (
        f"missing {', '.join(missing)}"
        if missing
        else f"unknown argument(s) {', '.join(map(repr, unknown))}"
    )
    return f"{problem}; it takes: {wanted or 'nothing'}"


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
