"""The daemon's wire format (docs/protocol.md): framing, messages, actions and devices as JSON.

Both ends use this module: the daemon (``audiosession.daemon``) and its client platform
(``platforms.daemon_connection``); where the daemon listens is ``wire.endpoint``. Pure
functions and one small decoder class, no threads, no system calls.

A message is one JSON object on one line (UTF-8, ``\\n``-terminated), at most
``MAX_MESSAGE`` bytes. ``LineDecoder`` splits a byte stream into lines without ever holding
more than ``MAX_MESSAGE`` bytes of one line: a longer line is reported once as
``OVERSIZED`` and the rest of it is dropped as it arrives.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from audiosession.engine.backend import DeviceInfo
from audiosession.errors import AudioSessionError
from audiosession.policy import Action, SetGain, SetRoute, SetState
from audiosession.types import AudioSessionState, AudioSessionType

__all__ = [
    "ARBITER_OPERATIONS",
    "OPERATION_ARGS",
    "MAX_MESSAGE",
    "OPERATIONS",
    "OVERSIZED",
    "LineDecoder",
    "ProtocolError",
    "decode_action",
    "decode_device",
    "decode_message",
    "encode_action",
    "encode_args",
    "encode_device",
    "encode_in_parts",
    "encode_message",
]

MAX_MESSAGE: Final = 64 * 1024
"""Bytes in one message, newline excluded. Longer lines get an error and are discarded."""

ARBITER_OPERATIONS: Final = (
    "add",
    "remove",
    "request_active",
    "release",
    "set_type",
    "interrupt",
    "end_interruption",
    "set_devices",
    "device_removed",
)
"""Requests that run the ``Arbiter`` method of the same name in the daemon."""

OPERATIONS: Final = (
    *ARBITER_OPERATIONS,
    "sessions",
    "status",
    "ping",
    "play_file",
    "own_streams",
)
"""Every request a client may send after its ``hello``."""

OPERATION_ARGS: Final[Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    # op: (required argument names, optional ones)
    "add": (("session", "context", "owner"), ("type",)),
    "remove": (("session",), ()),
    "request_active": (("session", "type"), ()),
    "release": (("session",), ()),
    "set_type": (("session", "type"), ()),
    "interrupt": ((), ("kind", "reason")),
    "end_interruption": ((), ("reason",)),
    "set_devices": (("devices",), ()),
    "device_removed": (("device", "sessions"), ()),
    "sessions": ((), ()),
    "status": ((), ()),
    "ping": ((), ()),
    "play_file": (("path",), ("volume", "loop", "device")),
    "own_streams": (("children",), ()),
}
"""The ``args`` each operation takes (docs/protocol.md gives their types)."""


class ProtocolError(AudioSessionError, ValueError):
    """A message that breaks the wire format; the text says what was wrong and what is right."""


class _Oversized:
    """The marker ``LineDecoder.feed`` yields for a line longer than the limit."""

    def __repr__(self) -> str:
        return "OVERSIZED"


OVERSIZED: Final = _Oversized()


class LineDecoder:
    """Splits a byte stream into newline-terminated lines of at most ``limit`` bytes.

    ``feed(data)`` returns the complete lines found so far (without their newline), in order;
    a line longer than ``limit`` comes out once as ``OVERSIZED`` — as soon as it is known to
    be too long — and its remaining bytes are dropped up to its newline. The decoder never
    holds more than ``limit`` bytes.
    """

    def __init__(self, limit: int = MAX_MESSAGE) -> None:
        if limit <= 0:
            raise ValueError(f"limit must be a positive number of bytes, not {limit!r}")
        self.limit = limit
        self._buffer = bytearray()
        self._discarding = False

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete line held now."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes | _Oversized]:
        """The lines completed by ``data``."""
        out: list[bytes | _Oversized] = []
        start = 0
        size = len(data)
        while start < size:
            end = data.find(b"\n", start)
            if self._discarding:
                if end < 0:
                    return out
                self._discarding = False
                start = end + 1
                continue
            if end < 0:
                self._buffer += data[start:]
                if len(self._buffer) > self.limit:
                    self._buffer.clear()
                    self._discarding = True
                    out.append(OVERSIZED)
                return out
            if len(self._buffer) + (end - start) > self.limit:
                self._buffer.clear()
                out.append(OVERSIZED)
            else:
                self._buffer += data[start:end]
                out.append(bytes(self._buffer))
                self._buffer.clear()
            start = end + 1
        return out


def encode_message(message: Mapping[str, Any]) -> bytes:
    """One message as a line of compact JSON (raises ``ProtocolError`` if it is too long)."""
    line = json.dumps(message, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    data = line.encode("utf-8")
    if len(data) > MAX_MESSAGE:
        raise ProtocolError(f"message of {len(data)} bytes is over the {MAX_MESSAGE}-byte limit")
    return data + b"\n"


def encode_in_parts(head: Mapping[str, Any], key: str, items: Sequence[Any]) -> list[bytes]:
    """A reply too long for one message, as several: each is ``head`` with a part of
    ``items`` under ``key`` and ``"more"`` (true on every part but the last), in order, each
    within ``MAX_MESSAGE``. One part (with ``"more": false``) when everything fits. An item
    too long for a message of its own raises ``ProtocolError``."""

    def dumps(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
            "utf-8"
        )

    opening = dumps(dict(head))[:-1] + (b"," if head else b"") + dumps(key) + b":["
    budget = MAX_MESSAGE - len(opening) - len(b'],"more":false}')
    parts: list[list[bytes]] = [[]]
    size = 0
    for item in map(dumps, items):
        if len(item) > budget:
            raise ProtocolError(
                f"one {key} item of {len(item)} bytes is over the {MAX_MESSAGE}-byte limit"
            )
        if parts[-1] and size + 1 + len(item) > budget:
            parts.append([])
            size = 0
        size += len(item) + (1 if len(parts[-1]) else 0)
        parts[-1].append(item)
    return [
        opening
        + b",".join(part)
        + b'],"more":'
        + (b"true" if index < len(parts) - 1 else b"false")
        + b"}\n"
        for index, part in enumerate(parts)
    ]


def decode_message(line: bytes) -> dict[str, Any]:
    """The JSON object on ``line``; ``ProtocolError`` for anything else."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ProtocolError(f"message is not UTF-8 (byte {error.start}); send UTF-8 JSON") from None
    if not text.strip():
        raise ProtocolError("empty message; send one JSON object per line")
    try:
        value = json.loads(text)
    except RecursionError:
        raise ProtocolError("message nests too deeply; send a flat JSON object") from None
    except ValueError as error:
        raise ProtocolError(f"malformed JSON ({error}); send one JSON object per line") from None
    if not isinstance(value, dict):
        raise ProtocolError(
            f"message must be a JSON object, not {type(value).__name__}; "
            'e.g. {"id": 1, "op": "ping", "args": {}}'
        )
    return value


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


# -- actions --------------------------------------------------------------------------------


def encode_action(action: Action, session_id: str | None = None) -> dict[str, Any]:
    """``action`` as JSON; ``session_id`` replaces the action's own (the daemon strips its
    ``<client>/`` prefix)."""
    session = action.session_id if session_id is None else session_id
    if isinstance(action, SetState):
        return {"do": "state", "session": session, "state": action.state.value, "fade": action.fade}
    if isinstance(action, SetGain):
        return {"do": "gain", "session": session, "gain": action.gain, "ramp": action.ramp}
    if isinstance(action, SetRoute):
        return {"do": "route", "session": session, "device": action.device_id}
    raise TypeError(f"not a policy action: {action!r}")


def decode_action(data: object) -> Action:
    """The ``Action`` encoded by ``encode_action``; ``ProtocolError`` if it is not one."""
    if not isinstance(data, dict):
        raise ProtocolError(f"an action must be a JSON object, not {data!r}")
    kind = data.get("do")
    session = _string(data.get("session"), "action session")
    try:
        if kind == "state":
            return SetState(
                session, AudioSessionState(data["state"]), _number(data.get("fade", 0.0), "fade")
            )
        if kind == "gain":
            return SetGain(session, _number(data["gain"], "gain"), _number(data["ramp"], "ramp"))
        if kind == "route":
            device = data.get("device")
            if device is not None:
                device = _string(device, "route device")
            return SetRoute(session, device)
    except KeyError as error:
        raise ProtocolError(f"{kind} action without {error.args[0]!r}: {data!r}") from None
    except ValueError as error:
        raise ProtocolError(f"bad {kind} action {data!r}: {error}") from None
    raise ProtocolError(f"unknown action {kind!r}; expected state, gain or route")


def decode_actions(data: object) -> list[Action]:
    """A list of encoded actions."""
    if not isinstance(data, list):
        raise ProtocolError(f"actions must be a JSON list, not {data!r}")
    return [decode_action(item) for item in data]


# -- devices --------------------------------------------------------------------------------


def encode_device(device: DeviceInfo) -> dict[str, Any]:
    """``device`` as JSON."""
    return {
        "id": device.id,
        "label": device.label,
        "kind": device.kind,
        "roles": sorted(device.intended_roles),
        "default": device.is_default,
    }


def decode_device(data: object) -> DeviceInfo:
    """The ``DeviceInfo`` encoded by ``encode_device``; ``ProtocolError`` if it is not one."""
    if not isinstance(data, dict):
        raise ProtocolError(f"a device must be a JSON object, not {data!r}")
    kind = data.get("kind")
    if kind not in ("audiooutput", "audioinput"):
        raise ProtocolError(f"device kind must be 'audiooutput' or 'audioinput', not {kind!r}")
    roles = data.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise ProtocolError(f"device roles must be a list of strings, not {roles!r}")
    default = data.get("default", False)
    if not isinstance(default, bool):
        raise ProtocolError(f"device default must be true or false, not {default!r}")
    return DeviceInfo(
        _string(data.get("id"), "device id"),
        _string(data.get("label", ""), "device label", empty=True),
        kind,
        frozenset(roles),
        default,
    )


def decode_devices(data: object) -> list[DeviceInfo]:
    """A list of encoded devices (at most 256)."""
    if not isinstance(data, list):
        raise ProtocolError(f"devices must be a JSON list, not {data!r}")
    if len(data) > 256:
        raise ProtocolError(f"{len(data)} devices is over the limit of 256")
    return [decode_device(item) for item in data]


def encode_devices(devices: Iterable[DeviceInfo]) -> list[dict[str, Any]]:
    """A list of devices as JSON."""
    return [encode_device(device) for device in devices]


# -- values ---------------------------------------------------------------------------------

MAX_NAME = 256
"""Characters in a session id, context, owner, reason or device id."""


def _string(value: object, what: str, *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not empty):
        raise ProtocolError(f"{what} must be a non-empty string, not {value!r}")
    if len(value) > MAX_NAME:
        raise ProtocolError(f"{what} is {len(value)} characters long; the limit is {MAX_NAME}")
    return value


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProtocolError(f"{what} must be a number, not {value!r}")
    return float(value)


def check_string(value: object, what: str) -> str:
    """``value`` if it is a non-empty string of at most ``MAX_NAME`` characters."""
    return _string(value, what)
