"""The embedded platform: this process is its own platform and arbitrates its own windows.

The policy (``platform.policy.Arbiter``, DESIGN §6) decides; this module applies its actions:
states reach the sessions as the spec's "the user agent observes a modification", gains ramp
the sessions' voices (ducks, fades), routes move them between devices.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from audiosession.engine.devices import Backend, DeviceInfo, select_backend
from audiosession.loop import TaskLoop, Timer
from audiosession.platform.base import (
    Platform,
    SessionHandle,
    SessionInfo,
    StateCallback,
    check_interruption_kind,
)
from audiosession.platform.local_audio import LocalAudio
from audiosession.platform.policy import (
    Action,
    Arbiter,
    PolicyConfig,
    SetGain,
    SetRoute,
    SetState,
    find_config,
)
from audiosession.types import AudioSessionState, AudioSessionType

log = logging.getLogger(__name__)

ACTIVE = AudioSessionState.ACTIVE
INACTIVE = AudioSessionState.INACTIVE

CUT_RAMP = 0.005
"""Seconds to silence a session that must stop at once (no fade), without a click."""


class EmbeddedPlatform(Platform):
    """The sessions of this process's windows, under the policy of DESIGN §6."""

    name = "embedded"

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
        self.arbiter = Arbiter(self.config)
        self.audio = LocalAudio(
            loop, backend_factory or select_backend, rate=rate, channels=channels,
            blocksize=blocksize)
        self.audio.on_device_removed = self._device_removed
        self.audio.on_devices_changed = self._devices_changed
        self._handles: dict[str, SessionHandle] = {}
        self._fades: dict[str, Timer] = {}
        self._devices_known = False

    # -- the spec layer's requests ------------------------------------------------------------

    def register(self, session: SessionHandle) -> None:
        self._know_devices()
        session_id = session.session_id
        self._handles[session_id] = session
        self.audio.add_session(session_id, self.config.role(AudioSessionType.AMBIENT))
        self._apply(self.arbiter.add(session_id, session.context_id, session.owner))

    def unregister(self, session: SessionHandle) -> None:
        session_id = session.session_id
        if session_id not in self._handles:
            return
        actions = self.arbiter.remove(session_id)
        del self._handles[session_id]
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
            actions = self.arbiter.request_active(session_id, computed_type)
        else:
            actions = self.arbiter.release(session_id)
        self._apply(actions, requester=session_id)
        then(self.arbiter.state_of(session_id))

    def set_type(self, session: SessionHandle, computed_type: AudioSessionType) -> None:
        session_id = session.session_id
        self.audio.set_role(session_id, self.config.role(computed_type))
        self._apply(self.arbiter.set_type(session_id, computed_type))

    def interrupt(self, kind: str = "transient", reason: str = "external interruption") -> None:
        self._apply(self.arbiter.interrupt(check_interruption_kind(kind), reason))

    def end_interruption(self, reason: str | None = None) -> None:
        self._apply(self.arbiter.end_interruption(reason))

    # -- reports ------------------------------------------------------------------------------

    def sessions(self) -> list[SessionInfo]:
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
            for record in self.arbiter.snapshot()
        ]

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
                if session_id not in self._fades:
                    self.audio.session_gain(session_id).set(action.gain, action.ramp)
            elif isinstance(action, SetState):
                self._apply_state(action, reported_by_caller=session_id == requester)
        if requester is not None and self.arbiter.state_of(requester) is not INACTIVE:
            self._restore_gain(requester)

    def _apply_state(self, action: SetState, *, reported_by_caller: bool) -> None:
        session_id = action.session_id
        if action.state is not INACTIVE:
            self._restore_gain(session_id)
            if not reported_by_caller:
                self._handles[session_id].platform_state_changed(action.state)
            return
        # Inactive: fade the session out (a stop), or cut it at once (a device went away),
        # then tell the session, whose elements pause; then its gain is back to normal.
        gain = self.audio.session_gain(session_id)
        if reported_by_caller:
            return
        self._cancel_fade(session_id)
        if action.fade > 0:
            gain.set(0.0, action.fade)
            self._fades[session_id] = self.loop.call_later(
                action.fade, self._report_inactive, session_id)
        else:
            gain.set(0.0, CUT_RAMP)
            self._report_inactive(session_id)

    def _report_inactive(self, session_id: str) -> None:
        self._fades.pop(session_id, None)
        handle = self._handles.get(session_id)
        if handle is None or self.arbiter.state_of(session_id) is not INACTIVE:
            return
        handle.platform_state_changed(INACTIVE, then=lambda: self._restore_gain(session_id))

    def _restore_gain(self, session_id: str) -> None:
        """The session plays (again): its gain is the policy's, whatever a fade left."""
        if session_id not in self._handles:
            return
        self._cancel_fade(session_id)
        gain = self.audio.session_gain(session_id)
        target = self.arbiter.gain_of(session_id)
        if gain.target != target:
            gain.set(target, 0.0 if self.arbiter.state_of(session_id) is INACTIVE else None)

    def _cancel_fade(self, session_id: str) -> None:
        timer = self._fades.pop(session_id, None)
        if timer is not None:
            timer.cancel()

    # -- devices ------------------------------------------------------------------------------

    def _know_devices(self) -> None:
        if not self._devices_known:
            self._devices_known = True
            self._apply(self.arbiter.set_devices(self.audio.devices()))

    def _devices_changed(self, devices: list[DeviceInfo]) -> None:
        self._apply(self.arbiter.set_devices(devices))

    def _device_removed(self, device_id: str, sessions: set[str]) -> None:
        known = [s for s in sessions if s in self._handles]
        self._apply(self.arbiter.device_removed(device_id, known))
