"""The platform policy of DESIGN §6: the interaction table, its configuration, routing, and the
arbiter that applies them — pure data and functions, no threads, no clocks, no audio.

The embedded platform and the system daemon both run this module: they tell an ``Arbiter``
what happened (a session wants to play, went quiet, changed type, a device went away) and apply
the actions it returns (``SetState``, ``SetGain``, ``SetRoute``). See docs/policy.md.
"""

from __future__ import annotations

import heapq
import logging
import math
import os
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from types import MappingProxyType
from typing import Any

from audiosession.engine.devices import DeviceInfo
from audiosession.types import AudioSessionState, AudioSessionType

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

log = logging.getLogger(__name__)

__all__ = [
    "CONCRETE_TYPES",
    "DEFAULT_ROLES",
    "DEFAULT_TABLE",
    "Action",
    "Arbiter",
    "ConfigError",
    "Effect",
    "INTERRUPTION_KINDS",
    "PolicyConfig",
    "SessionRecord",
    "SetGain",
    "SetRoute",
    "SetState",
    "config_path",
    "find_config",
    "load_config",
    "route_for",
]

T = AudioSessionType
ACTIVE = AudioSessionState.ACTIVE
INACTIVE = AudioSessionState.INACTIVE
INTERRUPTED = AudioSessionState.INTERRUPTED

CONCRETE_TYPES: tuple[AudioSessionType, ...] = (
    T.AMBIENT,
    T.TRANSIENT,
    T.PLAYBACK,
    T.TRANSIENT_SOLO,
    T.PLAY_AND_RECORD,
)
"""The five types a session can have once computed (never ``auto``), in the table's order."""

INTERRUPTION_KINDS = ("transient", "permanent")


# --------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------


class Effect(str, Enum):
    """What one cell of the table does when a session becomes active next to another one."""

    MIX = "mix"
    """Nothing: both play."""
    DUCK = "duck"
    """The existing session stays active at ``duck_gain`` while the new one is active."""
    PAUSE = "pause"
    """The existing session is ``interrupted`` and resumed when the new one ends."""
    STOP = "stop"
    """The existing session is faded out and made ``inactive`` for good."""
    DELAY = "delay"
    """The *new* session is held ``interrupted`` until the existing one ends."""
    DENY = "deny"
    """The *new* session is refused outright (stays ``inactive``); only by configuration."""

    def __str__(self) -> str:
        return self.value


# (new, existing): effect on the existing one — `delay` / `deny` act on the new one instead.
DEFAULT_TABLE: Mapping[tuple[AudioSessionType, AudioSessionType], Effect] = MappingProxyType(
    {
        # new: ambient
        (T.AMBIENT, T.AMBIENT): Effect.MIX,
        (T.AMBIENT, T.TRANSIENT): Effect.MIX,
        (T.AMBIENT, T.PLAYBACK): Effect.MIX,
        (T.AMBIENT, T.TRANSIENT_SOLO): Effect.DELAY,
        (T.AMBIENT, T.PLAY_AND_RECORD): Effect.MIX,
        # new: transient
        (T.TRANSIENT, T.AMBIENT): Effect.DUCK,
        (T.TRANSIENT, T.TRANSIENT): Effect.MIX,
        (T.TRANSIENT, T.PLAYBACK): Effect.DUCK,
        (T.TRANSIENT, T.TRANSIENT_SOLO): Effect.DELAY,
        (T.TRANSIENT, T.PLAY_AND_RECORD): Effect.MIX,
        # new: playback
        (T.PLAYBACK, T.AMBIENT): Effect.MIX,
        (T.PLAYBACK, T.TRANSIENT): Effect.MIX,
        (T.PLAYBACK, T.PLAYBACK): Effect.STOP,
        (T.PLAYBACK, T.TRANSIENT_SOLO): Effect.DELAY,
        (T.PLAYBACK, T.PLAY_AND_RECORD): Effect.DELAY,
        # new: transient-solo
        (T.TRANSIENT_SOLO, T.AMBIENT): Effect.PAUSE,
        (T.TRANSIENT_SOLO, T.TRANSIENT): Effect.PAUSE,
        (T.TRANSIENT_SOLO, T.PLAYBACK): Effect.PAUSE,
        (T.TRANSIENT_SOLO, T.TRANSIENT_SOLO): Effect.STOP,
        (T.TRANSIENT_SOLO, T.PLAY_AND_RECORD): Effect.DELAY,
        # new: play-and-record
        (T.PLAY_AND_RECORD, T.AMBIENT): Effect.DUCK,
        (T.PLAY_AND_RECORD, T.TRANSIENT): Effect.DUCK,
        (T.PLAY_AND_RECORD, T.PLAYBACK): Effect.PAUSE,
        (T.PLAY_AND_RECORD, T.TRANSIENT_SOLO): Effect.PAUSE,
        (T.PLAY_AND_RECORD, T.PLAY_AND_RECORD): Effect.PAUSE,
    }
)
"""DESIGN §6: keyed ``(new, existing)``; the value is the effect on the existing session
(``DELAY`` holds the new one instead)."""

DEFAULT_ROLES: Mapping[AudioSessionType, str] = MappingProxyType(
    {
        T.PLAYBACK: "music",
        T.TRANSIENT: "event",
        T.TRANSIENT_SOLO: "a11y",
        T.AMBIENT: "animation",
        T.PLAY_AND_RECORD: "phone",
    }
)
"""The PulseAudio / PipeWire ``media.role`` each session type's streams carry."""

ROUTE_ROLES: Mapping[AudioSessionType, str] = MappingProxyType(
    {
        T.PLAY_AND_RECORD: "phone",
    }
)
"""Types that prefer a device by intended role (after ``communications_device``); the other
types go to the default output."""


class ConfigError(ValueError):
    """A configuration file (or value) the policy cannot use; names the file, key and the
    values that would be right."""

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None):
        super().__init__(message)
        self.path = path
        self.key = key


_MAX_RAMP = 10.0  # seconds; catches milliseconds written where seconds are meant


@dataclass(frozen=True, repr=False)
class PolicyConfig:
    """Everything the policy can be told: the table, duck level and ramps (seconds), the
    ``media.role`` of each type and the communications device.

    A ``table`` may give only some cells (keys may be type names and effect names as strings):
    the others keep their default. Invalid values raise ``ConfigError``.
    """

    table: Mapping[tuple[AudioSessionType, AudioSessionType], Effect] = field(
        default_factory=lambda: DEFAULT_TABLE
    )
    duck_gain: float = 0.2
    duck_attack: float = 0.1
    duck_release: float = 0.5
    stop_fade: float = 0.3
    roles: Mapping[AudioSessionType, str] = field(default_factory=lambda: DEFAULT_ROLES)
    communications_device: str | None = None

    def __post_init__(self) -> None:
        table = dict(DEFAULT_TABLE)
        for key, value in dict(self.table).items():
            if not isinstance(key, tuple) or len(key) != 2:
                raise ConfigError(f"table key must be a (new, existing) pair, not {key!r}")
            cell = (_parse_type(key[0], "table"), _parse_type(key[1], "table"))
            table[cell] = _parse_effect(value, f"table {cell[0]}/{cell[1]}")
        object.__setattr__(self, "table", MappingProxyType(table))
        roles = dict(DEFAULT_ROLES)
        for type_name, role in dict(self.roles).items():
            if not isinstance(role, str) or not role:
                raise ConfigError(f"roles.{type_name}: must be a non-empty string, not {role!r}")
            roles[_parse_type(type_name, "roles")] = role
        object.__setattr__(self, "roles", MappingProxyType(roles))
        _check_number(self.duck_gain, "duck_gain", 0.0, 1.0, "a number from 0 to 1")
        for name in ("duck_attack", "duck_release", "stop_fade"):
            _check_number(
                getattr(self, name), name, 0.0, _MAX_RAMP, f"seconds, from 0 to {_MAX_RAMP:g}"
            )
        device = self.communications_device
        if device is not None and (not isinstance(device, str) or not device):
            raise ConfigError(
                f"communications_device must be a non-empty device id or None, not {device!r}"
            )

    def __repr__(self) -> str:
        changed = {
            f"{new}/{existing}": str(effect)
            for (new, existing), effect in self.table.items()
            if DEFAULT_TABLE[(new, existing)] is not effect
        }
        roles = {str(t): r for t, r in self.roles.items() if DEFAULT_ROLES[t] != r}
        return (
            f"PolicyConfig(table changes={changed}, duck_gain={self.duck_gain}, "
            f"duck_attack={self.duck_attack}, duck_release={self.duck_release}, "
            f"stop_fade={self.stop_fade}, role changes={roles}, "
            f"communications_device={self.communications_device!r})"
        )

    def role(self, type: AudioSessionType | str) -> str:
        """The ``media.role`` for streams of a session of ``type``."""
        return self.roles[_parse_type(type, "roles")]


def _allowed_types() -> str:
    return ", ".join(t.value for t in CONCRETE_TYPES)


def _allowed_effects() -> str:
    return ", ".join(e.value for e in Effect)


def _parse_type(value: object, where: str) -> AudioSessionType:
    if isinstance(value, AudioSessionType) and value is not T.AUTO:
        return value
    if isinstance(value, str):
        try:
            parsed = AudioSessionType(value)
        except ValueError:
            pass
        else:
            if parsed is not T.AUTO:
                return parsed
    raise ConfigError(f"{where}: unknown session type {value!r}; allowed: {_allowed_types()}")


def _parse_effect(value: object, where: str) -> Effect:
    if isinstance(value, str):
        try:
            return Effect(value)
        except ValueError:
            pass
    raise ConfigError(f"{where}: unknown effect {value!r}; allowed: {_allowed_effects()}")


def _check_number(value: object, where: str, low: float, high: float, allowed: str) -> None:
    ok = (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and low <= value <= high
    )
    if not ok:
        raise ConfigError(f"{where} = {value!r} is out of range; allowed: {allowed}")


# --------------------------------------------------------------------------------------------
# Configuration files
# --------------------------------------------------------------------------------------------

# section -> {toml key: (PolicyConfig field, allowed, (low, high) or None for a string)}
_SCALARS: Mapping[str, Mapping[str, tuple[str, str, tuple[float, float] | None]]] = {
    "ducking": {
        "gain": ("duck_gain", "a number from 0 to 1", (0.0, 1.0)),
        "attack": ("duck_attack", f"seconds, from 0 to {_MAX_RAMP:g}", (0.0, _MAX_RAMP)),
        "release": ("duck_release", f"seconds, from 0 to {_MAX_RAMP:g}", (0.0, _MAX_RAMP)),
    },
    "stop": {
        "fade": ("stop_fade", f"seconds, from 0 to {_MAX_RAMP:g}", (0.0, _MAX_RAMP)),
    },
    "routing": {
        "communications_device": ("communications_device", "a non-empty device id", None),
    },
}
_SECTIONS = ("table", "ducking", "stop", "roles", "routing")


def load_config(path: str | os.PathLike[str]) -> PolicyConfig:
    """The configuration in the TOML file at ``path`` (keys: docs/policy.md); anything not
    given keeps its default. A bad file raises ``ConfigError`` naming the file, the key and
    the allowed values."""
    name = os.fspath(path)

    def fail(key: str, message: str) -> ConfigError:
        return ConfigError(f"{name}: {key}: {message}", path=name, key=key)

    try:
        with open(name, "rb") as file:
            data = tomllib.load(file)
    except tomllib.TOMLDecodeError as error:
        raise fail("(syntax)", f"not valid TOML: {error}") from None
    except OSError as error:
        raise fail("(file)", f"cannot be read: {error.strerror or error}") from None

    fields: dict[str, Any] = {}
    for section, body in data.items():
        if section not in _SECTIONS:
            raise fail(section, f"unknown section; allowed: {', '.join(_SECTIONS)}")
        if not isinstance(body, dict):
            raise fail(section, "must be a table ([" + section + "])")
        if section == "table":
            fields["table"] = _load_table(body, fail)
        elif section == "roles":
            fields["roles"] = _load_roles(body, fail)
        else:
            for key, value in body.items():
                full = f"{section}.{key}"
                spec = _SCALARS[section].get(key)
                if spec is None:
                    allowed = ", ".join(_SCALARS[section])
                    raise fail(full, f"unknown key; allowed: {allowed}")
                field_name, allowed, bounds = spec
                if bounds is None:
                    if not isinstance(value, str) or not value:
                        raise fail(full, f"{value!r} is not allowed; allowed: {allowed}")
                else:
                    try:
                        _check_number(value, full, bounds[0], bounds[1], allowed)
                    except ConfigError:
                        raise fail(full, f"{value!r} is out of range; allowed: {allowed}") from None
                    value = float(value)
                fields[field_name] = value
    try:
        return PolicyConfig(**fields)
    except ConfigError as error:  # pragma: no cover - every value was checked above
        raise fail("(config)", str(error)) from None


def _load_table(body: Mapping[str, Any], fail: Any) -> dict[tuple[T, T], Effect]:
    table: dict[tuple[T, T], Effect] = {}
    for new_name, row in body.items():
        try:
            new = _parse_type(new_name, "")
        except ConfigError:
            raise fail(
                f"table.{new_name}", f"unknown session type; allowed: {_allowed_types()}"
            ) from None
        if not isinstance(row, dict):
            raise fail(
                f"table.{new_name}",
                f"must be a table of existing type = effect (allowed effects: "
                f"{_allowed_effects()})",
            )
        for existing_name, value in row.items():
            key = f"table.{new_name}.{existing_name}"
            try:
                existing = _parse_type(existing_name, "")
            except ConfigError:
                raise fail(key, f"unknown session type; allowed: {_allowed_types()}") from None
            try:
                table[(new, existing)] = _parse_effect(value, "")
            except ConfigError:
                raise fail(
                    key, f"unknown effect {value!r}; allowed: {_allowed_effects()}"
                ) from None
    return table


def _load_roles(body: Mapping[str, Any], fail: Any) -> dict[T, str]:
    roles: dict[T, str] = {}
    for type_name, role in body.items():
        key = f"roles.{type_name}"
        try:
            type_ = _parse_type(type_name, "")
        except ConfigError:
            raise fail(key, f"unknown session type; allowed: {_allowed_types()}") from None
        if not isinstance(role, str) or not role:
            raise fail(key, f"{role!r} is not allowed; allowed: a non-empty media.role string")
        roles[type_] = role
    return roles


def config_path(environ: Mapping[str, str] | None = None) -> tuple[Path, bool]:
    """Where the configuration is read from, and whether it was named explicitly (by
    ``$AUDIOSESSION_CONFIG``) rather than being the per-user default
    ``$XDG_CONFIG_HOME/audiosession/audiosession.toml`` (``~/.config`` if unset)."""
    env = os.environ if environ is None else environ
    explicit = env.get("AUDIOSESSION_CONFIG")
    if explicit:
        return Path(explicit).expanduser(), True
    base = env.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if os.path.isabs(base) else Path.home() / ".config"
    return root / "audiosession" / "audiosession.toml", False


def find_config(environ: Mapping[str, str] | None = None, *,
                strict: bool = False) -> PolicyConfig:
    """The configuration in force: ``$AUDIOSESSION_CONFIG`` if set, else the per-user file if
    it exists, else the defaults. A bad file (or a named file that is missing, or one whose
    directory cannot be searched) is logged as a warning and the defaults stay in force;
    with ``strict`` (the daemon) it raises that ``ConfigError`` instead."""
    path, explicit = config_path(environ)
    try:
        exists = path.exists()
    except OSError:  # a directory on the way cannot be searched: reading it says so
        exists = True
    if not explicit and not exists:
        return PolicyConfig()
    try:
        return load_config(path)
    except ConfigError as error:
        if strict:
            raise
        log.warning("%s; using the default policy", error)
        return PolicyConfig()


# --------------------------------------------------------------------------------------------
# Routing
# --------------------------------------------------------------------------------------------


def default_output(devices: Iterable[DeviceInfo]) -> str | None:
    """The id of the default output device: the one marked default, else the first output,
    else None."""
    first: str | None = None
    for device in devices:
        if device.kind != "audiooutput":
            continue
        if device.is_default:
            return device.id
        if first is None:
            first = device.id
    return first


def route_for(
    type: AudioSessionType | str, devices: Sequence[DeviceInfo], config: PolicyConfig
) -> str | None:
    """The output device id for a session of ``type``: ``play-and-record`` goes to the
    configured communications device if present, else the first output whose intended roles
    include "phone", else the default output; every other type goes to the default output."""
    role = ROUTE_ROLES.get(_parse_type(type, "route_for"))
    if role is not None:
        outputs = [d for d in devices if d.kind == "audiooutput"]
        wanted = config.communications_device
        if wanted is not None and any(d.id == wanted for d in outputs):
            return wanted
        for device in outputs:
            if role in device.intended_roles:
                return device.id
    return default_output(devices)


# --------------------------------------------------------------------------------------------
# Actions and records
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SetState:
    """Move the session to ``state``. For ``inactive`` with ``fade`` > 0, fade the session's
    sound out over ``fade`` seconds first; ``inactive`` also resets its duck gain to 1 (after
    the fade) — no ``SetGain`` is sent for it."""

    session_id: str
    state: AudioSessionState
    fade: float = 0.0


@dataclass(frozen=True)
class SetGain:
    """Ramp the session's policy gain (the duck level, a factor on its own volume) to ``gain``
    over ``ramp`` seconds."""

    session_id: str
    gain: float
    ramp: float


@dataclass(frozen=True)
class SetRoute:
    """Send the session's streams to output device ``device_id`` (None: no output device)."""

    session_id: str
    device_id: str | None


Action = SetState | SetGain | SetRoute


@dataclass(frozen=True)
class SessionRecord:
    """One session as the arbiter sees it: what ``platform().sessions()`` reports."""

    id: str
    context: str
    owner: str
    type: AudioSessionType
    state: AudioSessionState
    gain: float
    causes: tuple[str, ...]
    route: str | None


# --------------------------------------------------------------------------------------------
# The arbiter
# --------------------------------------------------------------------------------------------


class _Cause(Enum):
    """Why a session is ducked or held; the value is how the snapshot words it."""

    DUCK = "ducked by"
    PAUSE = "paused by"
    DELAY = "delayed by"
    EXTERNAL = "external:"


_HOLDING = frozenset({_Cause.PAUSE, _Cause.DELAY, _Cause.EXTERNAL})
_IMPOSED = {Effect.DUCK: _Cause.DUCK, Effect.PAUSE: _Cause.PAUSE}
# What an active session does to the others it meets, per effect (DELAY/DENY act on itself).
_CauseKey = tuple[_Cause, str]  # (kind, causing session id or external reason)


@dataclass(eq=False)
class _Session:
    id: str
    context: str
    owner: str
    type: AudioSessionType
    order: int
    route: str | None
    state: AudioSessionState = INACTIVE
    seq: int = 0  # the counter value of the request that led to the current activation/hold
    causes: dict[_CauseKey, None] = field(default_factory=dict)
    holds: int = 0
    ducks: int = 0
    note: str | None = None  # why it went inactive, when that is worth telling


@dataclass
class _Op:
    before: dict[str, tuple[AudioSessionState, float, str | None]] = field(default_factory=dict)
    fades: dict[str, float] = field(default_factory=dict)
    forced_routes: set[str] = field(default_factory=set)
    forced_states: set[str] = field(default_factory=set)
    pending: list[tuple[int, int, str]] = field(default_factory=list)


class Arbiter:
    """The policy's bookkeeping: which sessions exist, what each one's state, duck gain and
    route are, and which causes hold them. Driven by calls; every call returns the net
    ``Action``s the platform must apply, ordered by session registration.

    Only sessions of different contexts (top-level windows, or client process + window in
    the daemon) interact here; inside one context the spec's own cascade decides.

    Not thread-safe: the platform calls it from one thread (its own queue) at a time.
    """

    def __init__(
        self, config: PolicyConfig | None = None, devices: Iterable[DeviceInfo] = ()
    ) -> None:
        self.config = config if config is not None else PolicyConfig()
        self._devices = _check_devices(devices)
        self._sessions: dict[str, _Session] = {}
        self._active: dict[AudioSessionType, dict[str, _Session]] = {t: {} for t in T}
        self._issued: dict[str, dict[str, None]] = {}  # causing session -> sessions it affects
        self._external: dict[str, dict[str, None]] = {}  # reason in force -> sessions it holds
        self._order = 0
        self._seq = 0
        self._op: _Op | None = None

    # -- registration -------------------------------------------------------------------

    def add(
        self,
        session_id: str,
        context_id: str,
        owner: str,
        type: AudioSessionType | str = T.AMBIENT,
    ) -> list[Action]:
        """Register an inactive session of ``context_id``; returns its initial ``SetRoute``
        (if there is an output device)."""
        type_ = _concrete(type)
        if session_id in self._sessions:
            raise ValueError(f"session {session_id!r} is already registered")
        self._order += 1
        session = _Session(
            session_id,
            context_id,
            owner,
            type_,
            self._order,
            route_for(type_, self._devices, self.config),
        )
        self._sessions[session_id] = session
        return [SetRoute(session_id, session.route)] if session.route is not None else []

    def remove(self, session_id: str) -> list[Action]:
        """The session is gone (window closed, client died): everything it caused on others
        is released at once. No action concerns the removed session itself."""
        session = self._get(session_id)
        with self._operation() as op:
            self._set_state(session, INACTIVE, 0.0)
            del self._sessions[session_id]
            op.before.pop(session_id, None)
            self._settle()
            return self._diff()

    # -- the session's own requests -----------------------------------------------------

    def request_active(self, session_id: str, type: AudioSessionType | str) -> list[Action]:
        """The session wants to become active with its computed ``type``. The actions include
        its own resulting state: ``active``, ``interrupted`` (held: delayed, or an external
        interruption) or ``inactive`` (denied)."""
        session = self._get(session_id)
        type_ = _concrete(type)
        with self._operation() as op:
            if session.state is INACTIVE:
                self._touch(session)
                op.forced_states.add(session.id)  # the answer, even "still inactive"
                self._seq += 1
                session.seq = self._seq
                session.note = None
                self._retype(session, type_)
                self._evaluate(session)
            elif session.type is not type_:
                self._retype(session, type_)  # already active or held: a type change
            self._settle()
            return self._diff()

    def release(self, session_id: str) -> list[Action]:
        """The session went inactive (its last element stopped): it becomes ``inactive`` and
        everything it caused on others is released."""
        session = self._get(session_id)
        with self._operation():
            self._set_state(session, INACTIVE, 0.0)
            self._settle()
            return self._diff()

    def set_type(self, session_id: str, type: AudioSessionType | str) -> list[Action]:
        """The computed type of the session changed. An active session meets the table again
        as the new one (a delay or deny cell leaves it active); causes it imposes that the new
        type would not are released; a held session stays held. Its route follows the type."""
        session = self._get(session_id)
        type_ = _concrete(type)
        with self._operation():
            if session.type is not type_:
                self._retype(session, type_)
            self._settle()
            return self._diff()

    # -- the outside world --------------------------------------------------------------

    def interrupt(
        self, kind: str = "transient", reason: str = "external interruption"
    ) -> list[Action]:
        """An interruption from outside. "transient": every active session is held
        (``external: <reason>``) and new requests are held too, until ``end_interruption``;
        "permanent": every active or held session becomes inactive for good."""
        if kind not in INTERRUPTION_KINDS:
            raise ValueError(f"interruption kind must be 'transient' or 'permanent', not {kind!r}")
        if not isinstance(reason, str):
            raise TypeError(f"interruption reason must be a str, not {reason!r}")
        with self._operation():
            if kind == "transient":
                held = self._external.setdefault(reason, {})
                for session in self._active_sessions():
                    self._add_cause(session, _Cause.EXTERNAL, reason, held)
                    self._set_state(session, INTERRUPTED)
            else:
                for session in list(self._sessions.values()):
                    if session.state is not INACTIVE:
                        fade = self.config.stop_fade if session.state is ACTIVE else 0.0
                        self._set_state(session, INACTIVE, fade)
                        session.note = f"permanently interrupted: {reason}"
            self._settle()
            return self._diff()

    def end_interruption(self, reason: str | None = None) -> list[Action]:
        """End the transient interruption ``reason`` (every one if None; an unknown reason is
        ignored). Sessions left with nothing holding them are re-evaluated, oldest request
        first."""
        with self._operation():
            reasons = list(self._external) if reason is None else [reason]
            for name in reasons:
                held = self._external.pop(name, None)
                for target_id in held or ():
                    self._remove_cause(self._sessions[target_id], (_Cause.EXTERNAL, name))
            self._settle()
            return self._diff()

    def set_devices(self, devices: Iterable[DeviceInfo]) -> list[Action]:
        """The current devices: every session's route is recomputed (``SetRoute`` for the
        ones that changed)."""
        checked = _check_devices(devices)
        with self._operation():
            self._devices = checked
            self._reroute_all()
            return self._diff()

    def device_removed(self, device_id: str, sessions_on_device: Iterable[str]) -> list[Action]:
        """Output device ``device_id`` went away. Routes are recomputed; each session that had
        streams on it gets a ``SetRoute`` (even if its route is unchanged: move the streams),
        and the ``playback`` ones among them become inactive at once (no fade: nothing may
        burst out of the speakers when headphones go)."""
        affected = [self._get(session_id) for session_id in sessions_on_device]
        with self._operation() as op:
            self._devices = tuple(d for d in self._devices if d.id != device_id)
            self._reroute_all()
            for session in affected:
                self._touch(session)
                op.forced_routes.add(session.id)
                if session.type is T.PLAYBACK and session.state is not INACTIVE:
                    self._set_state(session, INACTIVE, 0.0)
                    session.note = f"device removed: {device_id}"
            self._settle()
            return self._diff()

    @property
    def devices(self) -> tuple[DeviceInfo, ...]:
        """The devices routes are computed from."""
        return self._devices

    @property
    def interruptions(self) -> tuple[str, ...]:
        """The reasons of the transient interruptions in force."""
        return tuple(self._external)

    # -- reading ------------------------------------------------------------------------

    def snapshot(self) -> list[SessionRecord]:
        """Every session, in registration order."""
        return [self._record(session) for session in self._sessions.values()]

    def record(self, session_id: str) -> SessionRecord:
        """One session's record."""
        return self._record(self._get(session_id))

    def state_of(self, session_id: str) -> AudioSessionState:
        """The session's state."""
        return self._get(session_id).state

    def gain_of(self, session_id: str) -> float:
        """The session's policy gain target (1, or the duck gain)."""
        return self._gain(self._get(session_id))

    def __contains__(self, session_id: object) -> bool:
        try:
            return session_id in self._sessions
        except TypeError:
            return False

    def __len__(self) -> int:
        return len(self._sessions)

    # -- the model ----------------------------------------------------------------------

    def _get(self, session_id: str) -> _Session:
        try:
            return self._sessions[session_id]
        except (KeyError, TypeError):
            raise KeyError(session_id) from None

    def _gain(self, session: _Session) -> float:
        return self.config.duck_gain if session.ducks else 1.0

    def _record(self, session: _Session) -> SessionRecord:
        causes = [
            f"{kind.value} {source}"
            if kind is _Cause.EXTERNAL
            else f"{kind.value} {self._sessions[source].owner}"
            for kind, source in session.causes
        ]
        if session.note is not None:
            causes.append(session.note)
        return SessionRecord(
            session.id,
            session.context,
            session.owner,
            session.type,
            session.state,
            self._gain(session),
            tuple(causes),
            session.route,
        )

    @contextmanager
    def _operation(self) -> Iterator[_Op]:
        op = _Op()
        self._op = op
        try:
            yield op
        finally:
            self._op = None

    def _touch(self, session: _Session) -> None:
        op = self._op
        if op is not None and session.id not in op.before:
            op.before[session.id] = (session.state, self._gain(session), session.route)

    def _active_sessions(self) -> list[_Session]:
        found = [s for group in self._active.values() for s in group.values()]
        found.sort(key=lambda s: s.order)
        return found

    def _meets(self, session: _Session) -> list[tuple[_Session, Effect]]:
        """The active sessions of other contexts that the table does something with, each
        with its cell, in registration order."""
        found: list[tuple[_Session, Effect]] = []
        for existing_type, group in self._active.items():
            if not group:
                continue
            effect = self.config.table.get((session.type, existing_type), Effect.MIX)
            if effect is Effect.MIX:
                continue
            found.extend(
                (other, effect) for other in group.values() if other.context != session.context
            )
        found.sort(key=lambda pair: pair[0].order)
        return found

    def _evaluate(self, session: _Session) -> None:
        """``session`` (inactive, or held with nothing holding it any more) asks to play."""
        meets = self._meets(session)
        effects = {effect for _, effect in meets}
        if Effect.DENY in effects:
            self._set_state(session, INACTIVE, 0.0)
            return
        if Effect.DELAY in effects or self._external:
            for other, effect in meets:
                if effect is Effect.DELAY:
                    self._add_cause(session, _Cause.DELAY, other.id)
            for reason, held in self._external.items():
                self._add_cause(session, _Cause.EXTERNAL, reason, held)
            self._set_state(session, INTERRUPTED)
            return
        self._set_state(session, ACTIVE)
        self._impose(session, meets)

    def _impose(self, session: _Session, meets: list[tuple[_Session, Effect]]) -> None:
        """The active ``session`` applies its cells to the active sessions it meets."""
        for other, effect in meets:
            if other.state is not ACTIVE:
                continue  # an earlier stop in this loop may have changed it
            if effect is Effect.DUCK:
                self._add_cause(other, _Cause.DUCK, session.id)
            elif effect is Effect.PAUSE:
                self._add_cause(other, _Cause.PAUSE, session.id)
                self._set_state(other, INTERRUPTED)
            elif effect is Effect.STOP:
                self._set_state(other, INACTIVE, self.config.stop_fade)
                other.note = f"stopped by {session.owner}"

    def _retype(self, session: _Session, type_: AudioSessionType) -> None:
        table = self.config.table
        self._touch(session)
        old = session.type
        if session.state is ACTIVE:
            del self._active[old][session.id]
            self._active[type_][session.id] = session
        session.type = type_
        session.route = route_for(type_, self._devices, self.config)
        # Causes it imposes on others that its new type would not impose.
        for target_id in list(self._issued.get(session.id, ())):
            target = self._sessions[target_id]
            for effect, kind in _IMPOSED.items():
                imposed = table[(type_, target.type)]
                if (kind, session.id) in target.causes and imposed is not effect:
                    self._remove_cause(target, (kind, session.id))
            if (_Cause.DELAY, session.id) in target.causes and (
                table[(target.type, type_)] is not Effect.DELAY
            ):
                self._remove_cause(target, (_Cause.DELAY, session.id))
        # Ducks it receives that the others would not impose on its new type.
        for kind, source in list(session.causes):
            if kind is _Cause.DUCK and table[(self._sessions[source].type, type_)] is not (
                Effect.DUCK
            ):
                self._remove_cause(session, (kind, source))
        if session.state is ACTIVE and old is not type_:
            self._impose(session, self._meets(session))

    def _set_state(self, session: _Session, state: AudioSessionState, fade: float = 0.0) -> None:
        if session.state is state:
            return
        self._touch(session)
        if self._op is not None:
            self._op.fades[session.id] = fade
        if session.state is ACTIVE:
            del self._active[session.type][session.id]
        session.state = state
        if state is ACTIVE:
            self._active[session.type][session.id] = session
        elif state is INTERRUPTED:
            # Silent audio ducks nothing; pauses and delays it imposes stay until it ends.
            self._release_issued(session, only=_Cause.DUCK)
        else:
            for key in list(session.causes):
                self._remove_cause(session, key)
            self._release_issued(session)

    def _release_issued(self, session: _Session, only: _Cause | None = None) -> None:
        targets = self._issued.get(session.id)
        if not targets:
            return
        kinds = (only,) if only is not None else (_Cause.DUCK, _Cause.PAUSE, _Cause.DELAY)
        for target_id in list(targets):
            target = self._sessions[target_id]
            for kind in kinds:
                if (kind, session.id) in target.causes:
                    self._remove_cause(target, (kind, session.id))

    def _add_cause(
        self,
        target: _Session,
        kind: _Cause,
        source: str,
        external: dict[str, None] | None = None,
    ) -> None:
        key = (kind, source)
        if key in target.causes:
            return
        self._touch(target)
        target.causes[key] = None
        if kind in _HOLDING:
            target.holds += 1
        if kind is _Cause.DUCK:
            target.ducks += 1
        if kind is _Cause.EXTERNAL:
            assert external is not None
            external[target.id] = None
        else:
            self._issued.setdefault(source, {})[target.id] = None

    def _remove_cause(self, target: _Session, key: _CauseKey) -> None:
        if key not in target.causes:
            return
        self._touch(target)
        del target.causes[key]
        kind, source = key
        if kind in _HOLDING:
            target.holds -= 1
        if kind is _Cause.DUCK:
            target.ducks -= 1
        if kind is _Cause.EXTERNAL:
            held = self._external.get(source)
            if held is not None:
                held.pop(target.id, None)
        elif not any((k, source) in target.causes for k in _ISSUED_KINDS):
            issued = self._issued.get(source)
            if issued is not None:
                issued.pop(target.id, None)
                if not issued:
                    del self._issued[source]
        if target.holds == 0 and target.state is INTERRUPTED and self._op is not None:
            heapq.heappush(self._op.pending, (target.seq, target.order, target.id))

    def _settle(self) -> None:
        """Re-evaluate the sessions left held by nothing, oldest original request first."""
        op = self._op
        assert op is not None
        while op.pending:
            _, _, session_id = heapq.heappop(op.pending)
            session = self._sessions.get(session_id)
            if session is not None and session.state is INTERRUPTED and session.holds == 0:
                self._evaluate(session)

    def _reroute_all(self) -> None:
        for session in self._sessions.values():
            route = route_for(session.type, self._devices, self.config)
            if route != session.route:
                self._touch(session)
                session.route = route

    def _diff(self) -> list[Action]:
        """The net changes of this operation, by session registration order."""
        op = self._op
        assert op is not None
        actions: list[Action] = []
        touched = [self._sessions[sid] for sid in op.before if sid in self._sessions]
        touched.sort(key=lambda s: s.order)
        for session in touched:
            state, gain, route = op.before[session.id]
            if session.route != route or session.id in op.forced_routes:
                actions.append(SetRoute(session.id, session.route))
            new_gain = self._gain(session)
            if session.state is not INACTIVE and new_gain != gain:
                ramp = self.config.duck_attack if new_gain < gain else self.config.duck_release
                actions.append(SetGain(session.id, new_gain, ramp))
            if session.state is not state or session.id in op.forced_states:
                fade = 0.0
                if session.state is INACTIVE and state is ACTIVE:
                    fade = op.fades.get(session.id, 0.0)
                actions.append(SetState(session.id, session.state, fade))
        return actions


_ISSUED_KINDS = (_Cause.DUCK, _Cause.PAUSE, _Cause.DELAY)


def _check_devices(devices: Iterable[DeviceInfo]) -> tuple[DeviceInfo, ...]:
    checked = tuple(devices)
    for device in checked:
        if not isinstance(device, DeviceInfo):
            raise TypeError(f"devices must be DeviceInfo objects, not {device!r}")
    return checked


def _concrete(value: object) -> AudioSessionType:
    type_ = AudioSessionType.parse(value)
    if type_ is T.AUTO:
        raise ValueError(
            f"the policy needs a computed type, not 'auto'; expected one of {_allowed_types()}"
        )
    return type_
