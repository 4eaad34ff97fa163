"""One client process connected to the daemon, as the daemon's service knows it: who it is (from
the kernel), its sessions and devices, how it behaves, and the messages queued for it.

Not the client's side of the connection: that is ``platforms/daemon_connection.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from audiosession.engine.backend import DeviceInfo
from audiosession.policy import ArbiterRecord
from audiosession.wire.protocol import ProtocolError, encode_in_parts, encode_message

log = logging.getLogger(__name__)

__all__ = ["ConnectedClient", "SetAside"]

MAX_ERRORS_IN_A_ROW = 20
"""Errors (malformed, unknown, refused requests) in a row after which a client is dropped."""

LOGGED_ERRORS_PER_CLIENT = 10
"""Protocol errors logged one by one per client; the rest are counted (no log flooding)."""


class ConnectedClient:
    """One connected client process as the service knows it: who it is, its sessions and
    devices, how it behaves, and the encoded messages waiting to be sent to it."""

    def __init__(
        self, client_id: str, pid: int, uid: int, outbox: dict[ConnectedClient, None]
    ) -> None:
        self.id = client_id
        self.pid = pid  # from the kernel (the peer's credentials), not what the client claims
        self.uid = uid
        self.program = "?"
        self.greeted = False
        self.closing = False  # the transport closes the connection once its output is sent
        self.devices: tuple[DeviceInfo, ...] = ()
        self.sessions: dict[str, None] = {}  # this client's own session ids, in order
        self.routes: dict[str, str | None] = {}
        self.errors_in_a_row = 0
        self.errors_total = 0
        self.requests = 0
        self.answers_pings = False  # said so in its hello (``features``)
        self.adopts_descendants = False  # ``own_streams`` with ``children``
        self.set_aside: SetAside | None = None  # not answering: what it held, put aside
        self.outgoing: list[bytes] = []
        self._outbox = outbox

    def __repr__(self) -> str:
        return f"client {self.id} (pid {self.pid}, {self.program})"

    def namespaced(self, local_id: str) -> str:
        """The daemon-wide id of this client's session (or context) ``local_id``:
        ``<client>/<local_id>``."""
        return f"{self.id}/{local_id}"

    def send(self, message: Mapping[str, Any]) -> None:
        """Queue ``message``. A reply that cannot be encoded (a bug: every reply is bounded)
        becomes an error reply: it never costs the client its connection."""
        try:
            data = encode_message(message)
        except (ProtocolError, TypeError, ValueError) as error:
            log.error("%s: cannot send %s: %s", self, message.get("push") or "a reply", error)
            if "push" in message:
                return
            data = encode_message(
                {
                    "id": message.get("id"),
                    "ok": False,
                    "error": f"internal error in the daemon ({error})",
                }
            )
        self.send_encoded([data])

    def send_in_parts(self, head: Mapping[str, Any], key: str, rows: Sequence[Any]) -> None:
        """Queue a reply of many ``rows`` as the parts it needs (``encode_in_parts``)."""
        try:
            parts = encode_in_parts(head, key, rows)
        except ProtocolError as error:
            log.error("%s: cannot send a reply: %s", self, error)
            self.send(
                {
                    "id": head.get("id"),
                    "ok": False,
                    "error": f"internal error in the daemon ({error})",
                }
            )
            return
        self.send_encoded(parts)

    def send_encoded(self, messages: Iterable[bytes]) -> None:
        """Queue messages already encoded."""
        self.outgoing.extend(messages)
        self._outbox[self] = None

    def error(self, request_id: object, message: str) -> None:
        """Reply with an error, log it, and mark the client ``closing`` after too many in a
        row."""
        self.errors_in_a_row += 1
        self.errors_total += 1
        if self.errors_total <= LOGGED_ERRORS_PER_CLIENT:
            log.warning("%s: %s", self, message)
            if self.errors_total == LOGGED_ERRORS_PER_CLIENT:
                log.warning("%s: further errors are counted, not logged", self)
        self.send({"id": request_id, "ok": False, "error": message})
        if self.errors_in_a_row >= MAX_ERRORS_IN_A_ROW:
            log.warning(
                "%s sent %d bad messages in a row: disconnecting it", self, self.errors_in_a_row
            )
            self.send(
                {
                    "id": None,
                    "ok": False,
                    "error": f"{self.errors_in_a_row} errors in a row; disconnecting",
                }
            )
            self.closing = True


@dataclass
class SetAside:
    """What a client that stopped answering held: its sessions (as the arbiter had them) and
    the transient interruptions it alone made, to be applied again when it answers."""

    since: float
    sessions: list[ArbiterRecord] = field(default_factory=list)
    interruptions: list[str] = field(default_factory=list)
