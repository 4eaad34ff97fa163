"""The embedded platform: this process is its own platform and arbitrates its own windows."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from audiosession.engine.devices import DeviceInfo
from audiosession.loop import TaskLoop
from audiosession.platform.base import (
    Platform,
    SessionHandle,
    SessionInfo,
    StateCallback,
    check_interruption_kind,
)
from audiosession.types import AudioSessionState, AudioSessionType

log = logging.getLogger(__name__)

ACTIVE = AudioSessionState.ACTIVE
INACTIVE = AudioSessionState.INACTIVE
INTERRUPTED = AudioSessionState.INTERRUPTED


@dataclass
class _Record:
    handle: SessionHandle
    computed_type: AudioSessionType = AudioSessionType.AMBIENT
    state: AudioSessionState = INACTIVE
    causes: list[str] = field(default_factory=list)


class EmbeddedPlatform(Platform):
    """Sessions of this process only. This first form grants every activation except during
    an external interruption; the policy table of DESIGN §6 plugs in behind the same calls."""

    name = "embedded"

    def __init__(self, loop: TaskLoop) -> None:
        super().__init__(loop)
        self._records: dict[str, _Record] = {}
        self._interruptions: list[str] = []

    def register(self, session: SessionHandle) -> None:
        self._records[session.session_id] = _Record(session)

    def unregister(self, session: SessionHandle) -> None:
        self._records.pop(session.session_id, None)

    def set_state(
        self,
        session: SessionHandle,
        state: AudioSessionState,
        computed_type: AudioSessionType,
        then: StateCallback,
    ) -> None:
        record = self._records[session.session_id]
        record.computed_type = computed_type
        if state is ACTIVE and self._interruptions:
            record.state = INTERRUPTED
            record.causes = [f"external: {reason}" for reason in self._interruptions]
        else:
            record.state = state
            record.causes = []
        then(record.state)

    def set_type(self, session: SessionHandle, computed_type: AudioSessionType) -> None:
        self._records[session.session_id].computed_type = computed_type

    def interrupt(self, kind: str = "transient", reason: str = "external interruption") -> None:
        kind = check_interruption_kind(kind)
        new_state = INTERRUPTED if kind == "transient" else INACTIVE
        if kind == "transient":
            self._interruptions.append(reason)
        for record in self._records.values():
            if record.state is ACTIVE:
                record.state = new_state
                record.causes = [f"external: {reason}"] if kind == "transient" else []
                record.handle.platform_state_changed(new_state)

    def end_interruption(self, reason: str | None = None) -> None:
        if reason is None:
            self._interruptions.clear()
        elif reason in self._interruptions:
            self._interruptions.remove(reason)
        if self._interruptions:
            return
        for record in self._records.values():
            if record.state is INTERRUPTED:
                record.state = ACTIVE
                record.causes = []
                record.handle.platform_state_changed(ACTIVE)

    def sessions(self) -> list[SessionInfo]:
        return [
            SessionInfo(
                id=record.handle.session_id,
                owner=record.handle.owner,
                context=record.handle.context_id,
                type=record.handle.type,
                computed_type=record.computed_type,
                state=record.state,
                gain=1.0,
                causes=tuple(record.causes),
                route=None,
            )
            for record in self._records.values()
        ]

    def devices(self) -> list[DeviceInfo]:
        return []
