"""What the spec layer asks of a platform, and what a platform reports about its sessions.

The spec's "set the state", "set the type" and the platform's own state changes (an incoming
call, a session of another program) cross this interface. The embedded platform and the daemon
client implement it; the spec layer (``audiosession.session``) knows no other.
"""

from __future__ import annotations

import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from audiosession.engine.backend import DeviceInfo
from audiosession.loop import TaskLoop
from audiosession.types import AudioSessionState, AudioSessionType

if TYPE_CHECKING:
    from audiosession.engine.engine import Recording
    from audiosession.platforms.local_audio import LocalAudio

StateCallback = Callable[[AudioSessionState], None]


def program_name() -> str:
    """This process's program as a person knows it: ``sys.argv[0]``'s name (``music.py``,
    ``audiosession``; a package run with ``-m`` by its package's name), else ``python``."""
    path = sys.argv[0] if sys.argv and sys.argv[0] not in ("", "-c", "-m") else ""
    name = os.path.basename(path)
    if name == "__main__.py":
        name = os.path.basename(os.path.dirname(path))
    return (name or "python")[:100]


class SessionHandle(Protocol):
    """The platform's view of one audio session (an ``AudioSession`` implements it)."""

    @property
    def session_id(self) -> str: ...

    @property
    def context_id(self) -> str:
        """The top-level browsing context: the policy table (docs/design.md, *Platform
        policy*) applies between contexts."""
        ...

    @property
    def owner(self) -> str: ...

    @property
    def type(self) -> AudioSessionType: ...

    def platform_state_changed(
        self, state: AudioSessionState, then: Callable[[], None] | None = None
    ) -> None:
        """The platform moved this session to ``state`` on its own (spec: "when the user agent
        observes such a modification"); ``then`` runs once the change has been notified."""
        ...


@dataclass(frozen=True)
class SessionInfo:
    """One row of ``platform().sessions()``."""

    id: str
    owner: str
    context: str
    type: AudioSessionType
    computed_type: AudioSessionType
    state: AudioSessionState
    gain: float
    causes: tuple[str, ...]
    route: str | None


class Platform(ABC):
    """The platform that decides what the sessions of this process may do."""

    name: str = "platform"
    audio: LocalAudio
    """This process's own audio: the engine, and what each session plays on it."""

    def __init__(self, loop: TaskLoop) -> None:
        self.loop = loop

    @abstractmethod
    def register(self, session: SessionHandle) -> None:
        """A new audio session exists (a window was created)."""

    @abstractmethod
    def unregister(self, session: SessionHandle) -> None:
        """The session is gone (its window closed): release at once all it held on others."""

    @abstractmethod
    def set_state(
        self,
        session: SessionHandle,
        state: AudioSessionState,
        computed_type: AudioSessionType,
        then: StateCallback,
    ) -> None:
        """The spec's "set the state" (run "in parallel"): try to move ``session`` to ``state``
        and call ``then`` with the state it really has afterwards."""

    @abstractmethod
    def set_type(self, session: SessionHandle, computed_type: AudioSessionType) -> None:
        """The spec's "set the type" of the audio session (run "in parallel")."""

    @abstractmethod
    def interrupt(self, kind: str = "transient", reason: str = "external interruption") -> None:
        """An interruption from outside: active sessions become ``interrupted`` (transient,
        until ``end_interruption``) or ``inactive`` (permanent)."""

    @abstractmethod
    def end_interruption(self, reason: str | None = None) -> None:
        """End the transient interruption named ``reason`` (all of them if None)."""

    @abstractmethod
    def sessions(self) -> list[SessionInfo]:
        """A snapshot of every session this platform knows."""

    @abstractmethod
    def devices(self) -> list[DeviceInfo]:
        """The output and input devices."""

    def record(self, device: str | None = None) -> Recording:
        """Start recording what ``device`` (the default output if None) receives from now;
        ``recording.stop()`` returns it as a (frames, channels) float32 array."""
        return self.audio.engine.record(device)

    def adopting_own_streams(self, children: bool) -> None:  # noqa: B027 (optional hook)
        """The process adopts its own sound-server streams (and, with ``children``, those of
        its child processes) as elements: a platform that polices other programs' streams
        (the daemon's bridge) leaves those alone."""

    def close(self) -> None:  # noqa: B027 (optional hook)
        """Release devices and connections."""
