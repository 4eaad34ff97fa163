"""A minimal audio session element for the spec-layer tests: the element contract, no audio."""

from __future__ import annotations

from audiosession.session.element import SessionElement
from audiosession.session.window import Window
from audiosession.types import AudioSessionType


class ToyElement(SessionElement):
    """Plays "sound" when told: audible while playing and not muted. Its suspend steps pause
    it, its resume steps play it, and it counts both, like the spec's media element."""

    def __init__(self, window: Window, default_type: str = "playback") -> None:
        self.default_type = AudioSessionType(default_type)
        self.playing = False
        self.muted = False
        self.suspended = 0
        self.resumed = 0
        self.updated = 0
        super().__init__(window)

    def _is_audible_now(self) -> bool:
        return self.playing and not self.muted

    def play(self) -> None:
        with self.window.runtime.loop.lock:
            self.playing = True
            self._refresh_audible()

    def pause(self) -> None:
        """The program's own pause: forgets any pending resume, like a media element's."""
        with self.window.runtime.loop.lock:
            self.audio_session._forget_interrupted(self)
            self.playing = False
            self._refresh_audible()

    def _update_steps(self) -> None:
        self.updated += 1

    def _suspend_steps(self) -> None:
        self.suspended += 1
        self.playing = False
        self._refresh_audible()

    def _resume_steps(self) -> None:
        self.resumed += 1
        self.playing = True
        self._refresh_audible()
