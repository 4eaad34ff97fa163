"""The spec's audio session element: a default type, an audible flag, update/suspend/resume steps.

The media element, the AudioContext and the microphone track implement it (``elements/``);
tests may implement it directly. An element belongs to the audio session of the window it was
created in, and calls ``_refresh_audible()`` whenever its audible flag may have changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audiosession.errors import InvalidStateError
from audiosession.session.audio_session import AudioSession, audible_flag_changed
from audiosession.session.runtime import current_runtime
from audiosession.types import AudioSessionType

if TYPE_CHECKING:
    from audiosession.session.window import Window


class SessionElement:
    """An audio session element (spec § Concepts). Subclasses define ``default_type``,
    ``_is_audible_now()`` and the three kinds of steps; each is empty by default."""

    default_type: AudioSessionType = AudioSessionType.AMBIENT
    """What the element counts as for the ``auto`` type: a class's, or an element's own."""

    def __init__(self, window: Window | None = None) -> None:
        self.window = window if window is not None else current_runtime().default_window
        self._audible = False
        self._released = False
        with self.window.runtime.loop.lock:
            self.window.navigator.audio_session._add_element(self)

    @property
    def audio_session(self) -> AudioSession:
        """The ``AudioSession`` of the window this element belongs to."""
        return self.window.navigator.audio_session

    @property
    def audible(self) -> bool:
        """The spec's audible flag, as last refreshed."""
        return self._audible

    @property
    def pending_play(self) -> bool:
        """Whether the element is about to become audible (a play on its way): an active
        session is not released while one of its elements is (note 7)."""
        return False

    def _is_audible_now(self) -> bool:
        """The element's audible flag computed from its current state."""
        return False

    @property
    def _keeps_itself_alive(self) -> bool:
        """Whether the element lives on though the program holds no reference to it: it may
        still sound on its own (a media element that is playing). By default, yes: for as long
        as its window."""
        return True

    def _refresh_audible(self) -> None:
        """Run the audible-flag-change steps if the flag changed, and let the session know
        whether the element keeps itself alive. Call with the loop lock held after any change
        of the element's state."""
        if not self._released:
            self.audio_session._hold(self)
        audible = self._is_audible_now() and not self._released
        if audible == self._audible:
            return
        self._audible = audible
        audible_flag_changed(self, audible)

    def _update_steps(self) -> None:
        """The spec's element update steps: run whenever the session state changes."""

    def _suspend_steps(self) -> None:
        """The spec's element suspend steps: the session stopped being active."""

    def _resume_steps(self) -> None:
        """The spec's element resume steps: the session is active again after an interruption."""

    def _activation_refused(self) -> None:
        """The platform refused to activate the session this element asked for (note 15):
        stop asking. The default does nothing."""

    def _release(self) -> None:
        """The window is closing: stop all audio and free the element's resources, firing no
        events. Subclasses extend this and call it."""
        self._released = True
        self._audible = False

    def _check_usable(self) -> None:
        if self._released or self.window.closed:
            raise InvalidStateError(f"{self!r} belongs to a closed window ({self.window.name})")
