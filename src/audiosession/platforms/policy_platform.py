"""The platform that applies the policy's actions to this process's audio.

The policy (``policy.Arbiter``, docs/design.md, *Platform policy*) decides;
``PolicyPlatform`` applies its actions: states reach the sessions as the spec's "the user agent
observes a modification", gains ramp the sessions' voices (ducks, fades), routes move them
between devices. Where the decisions come from is the subclass's business: the embedded platform
runs the Arbiter in this process; the daemon client asks the system daemon, which runs the same
Arbiter for every program of the user.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from audiosession.engine.backend import Backend, DeviceInfo
from audiosession.engine.selection import select_backend
from audiosession.loop import TaskLoop, Timer
from audiosession.platforms.base import (
    Platform,
    SessionHandle,
    SessionInfo,
    StateCallback,
)
from audiosession.platforms.local_audio import LocalAudio
from audiosession.policy import (
    Action,
    Arbiter,
    PolicyConfig,
    SetGain,
    SetRoute,
    SetState,
    check_interruption_kind,
    find_config,
)
from audiosession.types import AudioSessionState, AudioSessionType

log = logging.getLogger(__name__)

ACTIVE = AudioSessionState.ACTIVE
INACTIVE = AudioSessionState.INACTIVE

CUT_RAMP = 0.005
"""Seconds to silence a session that must stop at once (no fade), without a click."""


class PolicyPlatform(Platform):
    """Applies the policy's actions to local audio. Subclasses implement ``_decide``: run one
    ``Arbiter`` operation (by name) and return its actions."""

    def __init__(
        self,
        loop: TaskLoop,
        *,
        backend_factory: Callable[[], Backend] | None = None,
        config: PolicyConfig | None = None,
        rate: int = 48000,
        channels: int = 2,
        blocksize: int = 480,
    ) -> None:
        super().__init__(loop)
        self.config = config if config is not None else find_config()
        self.audio = LocalAudio(
            loop,
            backend_factory or select_backend,
            rate=rate,
            channels=channels,
            blocksize=blocksize,
        )
        self.audio.on_device_removed = self._device_removed
        self.audio.on_devices_changed = self._devices_changed
        self._handles: dict[str, SessionHandle] = {}
        self._fades: dict[str, Timer] = {}
        self._devices_known = False
        # What the applied actions say of each session of ours (the policy's answer).
        self._states: dict[str, AudioSessionState] = {}
        self._gains: dict[str, float] = {}

    def _decide(self, operation: str, *args: object) -> list[Action]:
        raise NotImplementedError

    def state_of(self, session_id: str) -> AudioSessionState:
        return self._states[session_id]

    def gain_of(self, session_id: str) -> float:
        return self._gains[session_id]

    # -- the spec layer's requests ------------------------------------------------------------

    def register(self, session: SessionHandle) -> None:
        self._know_devices()
        session_id = session.session_id
        self._handles[session_id] = session
        self._states[session_id] = INACTIVE
        self._gains[session_id] = 1.0
        self.audio.add_session(session_id, self.config.role(AudioSessionType.AMBIENT))
        self._apply(self._decide("add", session_id, session.context_id, session.owner))

    def unregister(self, session: SessionHandle) -> None:
        session_id = session.session_id
        if session_id not in self._handles:
            return
        actions = self._decide("remove", session_id)
        del self._handles[session_id]
        del self._states[session_id], self._gains[session_id]
        self._cancel_fade(session_id)
        self.audio.remove_session(session_id)
        self._apply(actions)

    def set_state(
        self,
        session: SessionHandle,
        state: AudioSessionState,
        computed_type: AudioSessionType,
        then: StateCallback,
    ) -> None:
        session_id = session.session_id
        self.audio.set_role(session_id, self.config.role(computed_type))
        if state is ACTIVE:
            actions = self._decide("request_active", session_id, computed_type)
        else:
            actions = self._decide("release", session_id)
        self._apply(actions, requester=session_id)
        then(self._states[session_id])

    def set_type(self, session: SessionHandle, computed_type: AudioSessionType) -> None:
        session_id = session.session_id
        self.audio.set_role(session_id, self.config.role(computed_type))
        self._apply(self._decide("set_type", session_id, computed_type))

    def interrupt(self, kind: str = "transient", reason: str = "external interruption") -> None:
        self._apply(self._decide("interrupt", check_interruption_kind(kind), reason))

    def end_interruption(self, reason: str | None = None) -> None:
        self._apply(self._decide("end_interruption", reason))

    # -- reports ------------------------------------------------------------------------------

    def _session_rows(self, arbiter: Arbiter) -> list[SessionInfo]:
        """``sessions()`` of the sessions ``arbiter`` decides for this process."""
        return [
            SessionInfo(
                id=record.id,
                owner=record.owner,
                context=record.context,
                type=self._handles[record.id].type,
                computed_type=record.type,
                state=record.state,
                gain=self._reported_gain(record.id, record.state),
                causes=tuple(record.causes),
                route=record.route,
            )
            for record in arbiter.snapshot()
        ]

    def _reported_gain(self, session_id: str, state: AudioSessionState) -> float:
        # A ramp only moves while the session sounds; an inactive one is at its target.
        gain = self.audio.session_gain(session_id)
        return gain.target if state is INACTIVE else gain.value

    def devices(self) -> list[DeviceInfo]:
        return self.audio.devices()

    def render_block(self) -> None:
        """Virtual time only: render one block on every device."""
        backend = self.audio.backend
        render = getattr(backend, "render_block", None)
        if render is None:
            raise RuntimeError(f"the {backend.name} backend runs on its own clock")
        render()

    def close(self) -> None:
        for timer in self._fades.values():
            timer.cancel()
        self.audio.close()

    # -- applying the policy's actions --------------------------------------------------------

    def _apply(self, actions: Iterable[Action], requester: str | None = None) -> None:
        for action in actions:
            session_id = action.session_id
            if session_id not in self._handles:
                continue
            if isinstance(action, SetRoute):
                self.audio.set_route(session_id, action.device_id)
            elif isinstance(action, SetGain):
                self._gains[session_id] = action.gain
                if session_id not in self._fades:
                    self.audio.set_session_gain(session_id, action.gain, action.ramp)
            elif isinstance(action, SetState):
                self._apply_state(action, reported_by_caller=session_id == requester)
        if requester is not None and self._states[requester] is not INACTIVE:
            self._restore_gain(requester)

    def _apply_state(self, action: SetState, *, reported_by_caller: bool) -> None:
        session_id = action.session_id
        self._states[session_id] = action.state
        if action.state is not INACTIVE:
            self._restore_gain(session_id)
            if not reported_by_caller:
                self._handles[session_id].platform_state_changed(action.state)
            return
        # Inactive: fade the session out (a stop), or cut it at once (a device went away),
        # then tell the session, whose elements pause; then its gain is back to normal
        # (an inactive session has no duck: policy decision 3).
        self._gains[session_id] = 1.0
        if reported_by_caller:
            # It released: nothing of it is audible, no ramp to hear.
            self.audio.set_session_gain(session_id, 1.0, 0.0)
            return
        self._cancel_fade(session_id)
        if action.fade > 0:
            self.audio.set_session_gain(session_id, 0.0, action.fade)
            self._fades[session_id] = self.loop.call_later(
                action.fade, self._report_inactive, session_id
            )
        else:
            self.audio.set_session_gain(session_id, 0.0, CUT_RAMP)
            self._report_inactive(session_id)

    def _report_inactive(self, session_id: str) -> None:
        self._fades.pop(session_id, None)
        handle = self._handles.get(session_id)
        if handle is None or self._states[session_id] is not INACTIVE:
            return
        handle.platform_state_changed(INACTIVE, then=lambda: self._restore_gain(session_id))

    def _restore_gain(self, session_id: str) -> None:
        """The session plays (again): its gain is the policy's, whatever a fade left."""
        if session_id not in self._handles:
            return
        self._cancel_fade(session_id)
        target = self._gains[session_id]
        if self.audio.session_gain(session_id).target != target:
            ramp = 0.0 if self._states[session_id] is INACTIVE else None
            self.audio.set_session_gain(session_id, target, ramp)

    def _cancel_fade(self, session_id: str) -> None:
        timer = self._fades.pop(session_id, None)
        if timer is not None:
            timer.cancel()

    # -- devices ------------------------------------------------------------------------------

    def _know_devices(self) -> None:
        if not self._devices_known:
            self._devices_known = True
            self._apply(self._decide("set_devices", self.audio.devices()))

    def _devices_changed(self, devices: list[DeviceInfo]) -> None:
        self._apply(self._decide("set_devices", devices))

    def _device_removed(self, device_id: str, sessions: set[str]) -> set[str]:
        known = sorted(s for s in sessions if s in self._handles)
        actions = self._decide("device_removed", device_id, known)
        self._apply(actions)
        return {a.session_id for a in actions if isinstance(a, SetState) and a.state is INACTIVE}
