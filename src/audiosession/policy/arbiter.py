"""The ``Arbiter``: the policy's bookkeeping of every session, driven by calls (a session wants
to play, went quiet, changed type; an interruption; a device went away), each answered with the
actions the platform applies. No threads, no clocks, no audio (docs/policy.md)."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from audiosession.policy.actions import (
    Action,
    ArbiterRecord,
    SetGain,
    SetRoute,
    SetState,
)
from audiosession.policy.config import PolicyConfig, allowed_types
from audiosession.policy.routing import route_for
from audiosession.policy.table import Effect
from audiosession.types import AudioSessionState, AudioSessionType

if TYPE_CHECKING:
    from audiosession.engine.backend import DeviceInfo

ACTIVE = AudioSessionState.ACTIVE
INACTIVE = AudioSessionState.INACTIVE
INTERRUPTED = AudioSessionState.INTERRUPTED

INTERRUPTION_KINDS = ("transient", "permanent")
"""An interruption from outside holds sessions until it ends ("transient") or ends them
("permanent")."""


def check_interruption_kind(kind: object) -> str:
    """``kind`` if it is "transient" or "permanent", else a ValueError naming both."""
    if kind not in INTERRUPTION_KINDS:
        raise ValueError(f"interruption kind must be 'transient' or 'permanent', not {kind!r}")
    return str(kind)


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
class _OperationChanges:
    """What one Arbiter operation has changed so far, from which its actions are computed."""

    before: dict[str, tuple[AudioSessionState, float, str | None]] = field(default_factory=dict)
    """Each touched session's (state, gain, route) before the operation."""
    fades: dict[str, float] = field(default_factory=dict)
    """Session -> the fade of its last state change."""
    forced_routes: set[str] = field(default_factory=set)
    """Sessions that get a ``SetRoute`` even if their route is unchanged."""
    forced_states: set[str] = field(default_factory=set)
    """Sessions that get a ``SetState`` even if their state is unchanged (the answer)."""
    pending: list[tuple[int, int, str]] = field(default_factory=list)
    """Held sessions that nothing holds any more: (request seq, order, id), to re-evaluate."""


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
        self._active: dict[AudioSessionType, dict[str, _Session]] = {
            t: {} for t in AudioSessionType
        }
        self._issued: dict[str, dict[str, None]] = {}  # causing session -> sessions it affects
        self._external: dict[str, dict[str, None]] = {}  # reason in force -> sessions it holds
        self._order = 0
        self._seq = 0
        self._changes: _OperationChanges | None = None

    # -- registration -------------------------------------------------------------------

    def add(
        self,
        session_id: str,
        context_id: str,
        owner: str,
        type: AudioSessionType | str = AudioSessionType.AMBIENT,
    ) -> list[Action]:
        """Register an inactive session of ``context_id``; returns its initial ``SetRoute``
        (if there is an output device)."""
        type_ = _concrete_type(type)
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
        with self._operation() as changes:
            self._set_state(session, INACTIVE, 0.0)
            del self._sessions[session_id]
            changes.before.pop(session_id, None)
            self._reevaluate_released()
            return self._diff()

    # -- the session's own requests -----------------------------------------------------

    def request_active(self, session_id: str, type: AudioSessionType | str) -> list[Action]:
        """The session wants to become active with its computed ``type``. The actions include
        its own resulting state: ``active``, ``interrupted`` (held: delayed, or an external
        interruption) or ``inactive`` (denied)."""
        session = self._get(session_id)
        type_ = _concrete_type(type)
        with self._operation() as changes:
            if session.state is INACTIVE:
                self._note_before_change(session)
                changes.forced_states.add(session.id)  # the answer, even "still inactive"
                self._seq += 1
                session.seq = self._seq
                session.note = None
                self._retype(session, type_)
                self._evaluate(session)
            elif session.type is not type_:
                self._retype(session, type_)  # already active or held: a type change
            self._reevaluate_released()
            return self._diff()

    def release(self, session_id: str) -> list[Action]:
        """The session went inactive (its last element stopped): it becomes ``inactive`` and
        everything it caused on others is released."""
        session = self._get(session_id)
        with self._operation():
            self._set_state(session, INACTIVE, 0.0)
            self._reevaluate_released()
            return self._diff()

    def set_type(self, session_id: str, type: AudioSessionType | str) -> list[Action]:
        """The computed type of the session changed. An active session meets the table again
        as the new one (a delay or deny cell leaves it active); causes it imposes that the new
        type would not are released; a held session stays held. Its route follows the type."""
        session = self._get(session_id)
        type_ = _concrete_type(type)
        with self._operation():
            if session.type is not type_:
                self._retype(session, type_)
            self._reevaluate_released()
            return self._diff()

    # -- the outside world --------------------------------------------------------------

    def interrupt(
        self, kind: str = "transient", reason: str = "external interruption"
    ) -> list[Action]:
        """An interruption from outside. "transient": every active session is held
        (``external: <reason>``) and new requests are held too, until ``end_interruption``;
        "permanent": every active or held session becomes inactive for good."""
        check_interruption_kind(kind)
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
            self._reevaluate_released()
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
            self._reevaluate_released()
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
        with self._operation() as changes:
            self._devices = tuple(d for d in self._devices if d.id != device_id)
            self._reroute_all()
            for session in affected:
                self._note_before_change(session)
                changes.forced_routes.add(session.id)
                if session.type is AudioSessionType.PLAYBACK and session.state is not INACTIVE:
                    self._set_state(session, INACTIVE, 0.0)
                    session.note = f"device removed: {device_id}"
            self._reevaluate_released()
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

    def snapshot(self) -> list[ArbiterRecord]:
        """Every session, in registration order."""
        return [self._record(session) for session in self._sessions.values()]

    def record(self, session_id: str) -> ArbiterRecord:
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

    def _record(self, session: _Session) -> ArbiterRecord:
        causes = [
            f"{kind.value} {source}"
            if kind is _Cause.EXTERNAL
            else f"{kind.value} {self._sessions[source].owner}"
            for kind, source in session.causes
        ]
        if session.note is not None:
            causes.append(session.note)
        return ArbiterRecord(
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
    def _operation(self) -> Iterator[_OperationChanges]:
        changes = _OperationChanges()
        self._changes = changes
        try:
            yield changes
        finally:
            self._changes = None

    def _note_before_change(self, session: _Session) -> None:
        """Keep the session's state, gain and route as they were before this operation (the
        first time it is touched), so ``_diff`` can tell what changed."""
        changes = self._changes
        if changes is not None and session.id not in changes.before:
            changes.before[session.id] = (session.state, self._gain(session), session.route)

    def _active_sessions(self) -> list[_Session]:
        found = [s for group in self._active.values() for s in group.values()]
        found.sort(key=lambda s: s.order)
        return found

    def _interactions(self, session: _Session) -> list[tuple[_Session, Effect]]:
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
        interactions = self._interactions(session)
        effects = {effect for _, effect in interactions}
        if Effect.DENY in effects:
            self._set_state(session, INACTIVE, 0.0)
            return
        if Effect.DELAY in effects or self._external:
            for other, effect in interactions:
                if effect is Effect.DELAY:
                    self._add_cause(session, _Cause.DELAY, other.id)
            for reason, held in self._external.items():
                self._add_cause(session, _Cause.EXTERNAL, reason, held)
            self._set_state(session, INTERRUPTED)
            return
        self._set_state(session, ACTIVE)
        self._impose(session, interactions)

    def _impose(self, session: _Session, interactions: list[tuple[_Session, Effect]]) -> None:
        """The active ``session`` applies its cells to the active sessions it meets."""
        for other, effect in interactions:
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
        self._note_before_change(session)
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
            self._impose(session, self._interactions(session))

    def _set_state(self, session: _Session, state: AudioSessionState, fade: float = 0.0) -> None:
        if session.state is state:
            return
        self._note_before_change(session)
        if self._changes is not None:
            self._changes.fades[session.id] = fade
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
        self._note_before_change(target)
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
        self._note_before_change(target)
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
        if target.holds == 0 and target.state is INTERRUPTED and self._changes is not None:
            heapq.heappush(self._changes.pending, (target.seq, target.order, target.id))

    def _reevaluate_released(self) -> None:
        """Re-evaluate the sessions left held by nothing, oldest original request first."""
        changes = self._changes
        assert changes is not None
        while changes.pending:
            _, _, session_id = heapq.heappop(changes.pending)
            session = self._sessions.get(session_id)
            if session is not None and session.state is INTERRUPTED and session.holds == 0:
                self._evaluate(session)

    def _reroute_all(self) -> None:
        for session in self._sessions.values():
            route = route_for(session.type, self._devices, self.config)
            if route != session.route:
                self._note_before_change(session)
                session.route = route

    def _diff(self) -> list[Action]:
        """The net changes of this operation, by session registration order."""
        changes = self._changes
        assert changes is not None
        actions: list[Action] = []
        touched = [self._sessions[sid] for sid in changes.before if sid in self._sessions]
        touched.sort(key=lambda s: s.order)
        for session in touched:
            state, gain, route = changes.before[session.id]
            if session.route != route or session.id in changes.forced_routes:
                actions.append(SetRoute(session.id, session.route))
            new_gain = self._gain(session)
            if session.state is not INACTIVE and new_gain != gain:
                ramp = self.config.duck_attack if new_gain < gain else self.config.duck_release
                actions.append(SetGain(session.id, new_gain, ramp))
            if session.state is not state or session.id in changes.forced_states:
                fade = 0.0
                if session.state is INACTIVE and state is ACTIVE:
                    fade = changes.fades.get(session.id, 0.0)
                actions.append(SetState(session.id, session.state, fade))
        return actions


_ISSUED_KINDS = (_Cause.DUCK, _Cause.PAUSE, _Cause.DELAY)


def _check_devices(devices: Iterable[DeviceInfo]) -> tuple[DeviceInfo, ...]:
    # Imported here: the policy loads without the engine (and NumPy) until devices are given.
    from audiosession.engine.backend import DeviceInfo

    checked = tuple(devices)
    for device in checked:
        if not isinstance(device, DeviceInfo):
            raise TypeError(f"devices must be DeviceInfo objects, not {device!r}")
    return checked


def _concrete_type(value: object) -> AudioSessionType:
    type_ = AudioSessionType.parse(value)
    if type_ is AudioSessionType.AUTO:
        raise ValueError(
            f"the policy needs a computed type, not 'auto'; expected one of {allowed_types()}"
        )
    return type_
