"""``AudioSession`` and the spec's algorithms (W3C Audio Session, Editor's Draft), step by step.

Each algorithm is one function named as the spec names it, with the spec's step numbers in
comments. Decisions on the spec's gaps are in docs/design.md (*Decisions on the spec's gaps*)
and docs/spec-notes.md (cited as "note N").
Policy questions are asked of the platform, never decided here.
"""

from __future__ import annotations

import itertools
import logging
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from audiosession.errors import InvalidStateError
from audiosession.events import EventHandler, EventTarget
from audiosession.platforms.base import Platform
from audiosession.session.runtime import Runtime
from audiosession.types import AudioSessionState, AudioSessionType

if TYPE_CHECKING:
    from audiosession.session.element import SessionElement
    from audiosession.session.window import Window

log = logging.getLogger(__name__)

AUTO = AudioSessionType.AUTO
ACTIVE = AudioSessionState.ACTIVE
INACTIVE = AudioSessionState.INACTIVE
INTERRUPTED = AudioSessionState.INTERRUPTED

SILENT_SESSION_GRACE = 0.25
"""Seconds an active session with nothing audible and nothing to resume is kept before it is
inactivated (note 7): long enough for a ``statechange`` listener to call ``play()`` again."""

_activation_order = itertools.count(1)


class ElementList:
    """A session's [[elements]], in the order they were created, held as a browser holds
    them: weakly, but strongly while they may still sound on their own (HTML: an element may
    be collected only once no further audio could ever be played by it). So an element the
    program dropped goes with all it holds once it has ended or was paused, and a
    fire-and-forget ``Audio(path).play()`` plays to its end. Used under the loop lock."""

    def __init__(self) -> None:
        self._refs: list[weakref.ref[SessionElement]] = []
        self._held: set[SessionElement] = set()

    def append(self, element: SessionElement) -> None:
        """Add ``element``, held strongly until it says otherwise (``hold``)."""
        self._refs.append(weakref.ref(element))
        self._held.add(element)

    def hold(self, element: SessionElement) -> None:
        """Hold ``element`` strongly if it may still sound on its own, else weakly."""
        if element._keeps_itself_alive:
            self._held.add(element)
        else:
            self._held.discard(element)

    def clear(self) -> None:
        self._refs.clear()
        self._held.clear()

    def __iter__(self) -> Iterator[SessionElement]:
        elements = [element for ref in self._refs if (element := ref()) is not None]
        if len(elements) < len(self._refs):
            self._refs = [ref for ref in self._refs if ref() is not None]
        return iter(elements)


class AudioSession(EventTarget):
    """The spec's ``AudioSession``: a window's audio session, its type and its state."""

    onstatechange = EventHandler["AudioSession"]("statechange")

    def __init__(self, window: Window) -> None:
        super().__init__()
        # "To create an AudioSession object" 1.1-1.6.
        self._type = AUTO
        self._state = INACTIVE
        self._elements = ElementList()
        self._interrupted_elements: list[SessionElement] = []
        self._applied_type = AUTO
        self._is_type_being_applied = False
        self.window = window
        self._reported_type: AudioSessionType | None = None
        self._activated_at = 0
        self._silence_check_pending = False

    # -- attributes ---------------------------------------------------------------------------

    @property
    def type(self) -> AudioSessionType:
        """The session type (``auto`` by default); setting an unknown one raises ValueError."""
        return self._type

    @type.setter
    def type(self, value: AudioSessionType | str) -> None:
        new_value = AudioSessionType.parse(value)
        with self.window.runtime.loop.lock:
            self._check_open()
            # Setter 1. Same value: nothing to do.
            if self._type is new_value:
                return
            # Setter 2-3.
            self._type = new_value
            update_the_type(self)

    @property
    def state(self) -> AudioSessionState:
        """``inactive``, ``active`` or ``interrupted``: the spec's [[state]]."""
        return self._state

    @property
    def elements(self) -> tuple[SessionElement, ...]:
        """The spec's [[elements]] (read-only view)."""
        return tuple(self._elements)

    @property
    def interrupted_elements(self) -> tuple[SessionElement, ...]:
        """The spec's [[interruptedElements]] (read-only view)."""
        return tuple(self._interrupted_elements)

    @property
    def computed_type(self) -> AudioSessionType:
        """The result of "compute the audio session type" now (never ``auto``)."""
        return compute_the_audio_session_type(self)

    # -- the platform's view (SessionHandle) --------------------------------------------------

    @property
    def platform(self) -> Platform:
        """The platform this session's policy and audio are run by."""
        return self.window.runtime.platform

    @property
    def session_id(self) -> str:
        """The session's name with the platform: its window's name."""
        return self.window.name

    @property
    def context_id(self) -> str:
        """The top-level browsing context: its window's top window's name."""
        return self.window.top.name

    @property
    def owner(self) -> str:
        """Who the session belongs to: its window's owner (this program, unless set)."""
        return self.window.owner

    def platform_state_changed(
        self, state: AudioSessionState, then: Callable[[], None] | None = None
    ) -> None:
        """The platform changed this session's state on its own: queue a task to notify it."""

        def notify() -> None:
            if not self.window.closed:
                if state is INACTIVE:
                    stop_audible_elements(self)
                notify_the_states_change(self, state)
            if then is not None:
                then()

        self.window.runtime.loop.queue_task(notify)

    # -- helpers for elements and windows -----------------------------------------------------

    def _check_open(self) -> None:
        """``InvalidStateError`` if the window is closed: its session can no longer be used."""
        if self.window.closed:
            raise InvalidStateError(f"{self.window.name} is closed; its audio session is gone")

    def _event_runtime(self) -> Runtime:
        return self.window.runtime

    def _forget_interrupted(self, element: SessionElement) -> None:
        """The program paused ``element`` itself: it will not be resumed (note 8)."""
        if element in self._interrupted_elements:
            self._interrupted_elements.remove(element)

    def _add_element(self, element: SessionElement) -> None:
        """The element's creation steps: add it to [[elements]]. ``InvalidStateError`` if the
        window is closed."""
        self._check_open()
        self._elements.append(element)

    def _hold(self, element: SessionElement) -> None:
        """Hold ``element`` strongly while it keeps itself alive, else weakly (``ElementList``)."""
        self._elements.hold(element)

    def _window_closed(self) -> None:
        """The window has closed (note 12): release every element (no events: the document is
        gone), forget them, and be ``inactive`` without a ``statechange``. The window then
        unregisters the session from the platform."""
        for element in list(self._elements):
            element._release()
        self._elements.clear()
        self._interrupted_elements.clear()
        self._state = INACTIVE

    def __repr__(self) -> str:
        return f"<AudioSession of {self.window.name} type={self._type} state={self._state}>"


# -- Update AudioSession's type -----------------------------------------------------------------


def update_the_type(audio_session: AudioSession) -> None:
    """The spec's "update the type"."""
    # 1. A task to apply the type is already queued: it will read the latest [[type]].
    if audio_session._is_type_being_applied:
        return
    # 2.
    audio_session._is_type_being_applied = True
    # 3. Queue a task to apply the type.
    audio_session.window.runtime.loop.queue_task(_apply_the_type, audio_session)


def _apply_the_type(audio_session: AudioSession) -> None:
    """Step 3 of "update the type", run as a task."""
    # 3.1
    audio_session._is_type_being_applied = False
    if audio_session.window.closed:
        return
    # 3.2
    if audio_session._type is audio_session._applied_type:
        return
    # 3.3
    audio_session._applied_type = audio_session._type
    # 3.4
    update_all_audio_session_states(audio_session.window.top, audio_session)
    # 3.5
    for element in list(audio_session._elements):
        update_an_element(element)
    # 3.6
    new_type = compute_the_audio_session_type(audio_session)
    # 3.7 In parallel, set the type of the audio session.
    _report_type(audio_session, new_type)


def _report_type(audio_session: AudioSession, computed_type: AudioSessionType) -> None:
    if computed_type is not audio_session._reported_type:
        audio_session._reported_type = computed_type
        audio_session.platform.set_type(audio_session, computed_type)


# -- Update AudioSession's state ----------------------------------------------------------------


def notify_the_states_change(audio_session: AudioSession, new_state: AudioSessionState) -> None:
    """The spec's "notify the state's change"."""
    old_state = audio_session._state
    # 1.
    is_mutating_state = old_state is not new_state
    # 2.
    audio_session._state = new_state
    if new_state is ACTIVE and is_mutating_state:
        audio_session._activated_at = next(_activation_order)
    # 3.
    if new_state is INACTIVE:
        audio_session._interrupted_elements.clear()
    # 4.
    for element in list(audio_session._elements):
        update_an_element(element)
    # 5.
    if not is_mutating_state:
        return
    # 6.
    update_all_audio_session_states(audio_session.window.top, audio_session)
    # 7.
    audio_session._fire("statechange")
    # Note 7: an active session with nothing left to play does not hold focus for ever.
    if new_state is ACTIVE:
        _schedule_silence_check(audio_session)


def inactivate(audio_session: AudioSession, *, stop_audible: bool = False) -> None:
    """The spec's "inactivate". ``stop_audible``: the session loses its place to another one
    (the in-page cascade), so its audible elements stop for good (note 2)."""
    # 1.
    if audio_session._state is INACTIVE:
        return
    # 2. In parallel: 2.1 set the state, 2.2 (the platform reports what it set),
    #    2.3 queue a task to notify the state's change with that state.
    loop = audio_session.window.runtime.loop
    audio_session.platform.set_state(
        audio_session,
        INACTIVE,
        compute_the_audio_session_type(audio_session),
        lambda state: loop.queue_task(_notify_inactivated, audio_session, state, stop_audible),
    )


def stop_audible_elements(audio_session: AudioSession) -> None:
    """Note 2: an active session that loses its place to another session (the platform's
    decision, or the in-page cascade) stops for good: its audible elements run their
    suspend steps, and are not remembered for resume. Not when it merely went silent."""
    if audio_session._state is ACTIVE:
        for element in list(audio_session._elements):
            if element.audible:
                element._suspend_steps()


def _notify_inactivated(
    audio_session: AudioSession, state: AudioSessionState, stop_audible: bool
) -> None:
    if audio_session.window.closed:
        return
    if stop_audible and state is INACTIVE:
        stop_audible_elements(audio_session)
    notify_the_states_change(audio_session, state)
    # Note 14: an element that became audible again while the inactivation was on its way
    # found the session still active and did not ask for it; it asks now.
    if audio_session._state is INACTIVE and any(e.audible for e in audio_session._elements):
        try_activating(audio_session)


def try_activating(audio_session: AudioSession) -> None:
    """The spec's "try activating"."""
    # 1.
    if audio_session._state is ACTIVE:
        return
    # 2. In parallel: 2.1 set the state (it may fail: inactive or interrupted), 2.2 queue a
    #    task to notify the state's change with the state the platform reports.
    loop = audio_session.window.runtime.loop
    computed_type = compute_the_audio_session_type(audio_session)
    audio_session._reported_type = computed_type
    audio_session.platform.set_state(
        audio_session,
        ACTIVE,
        computed_type,
        lambda state: loop.queue_task(_notify_activation, audio_session, state),
    )


def _notify_activation(audio_session: AudioSession, state: AudioSessionState) -> None:
    if audio_session.window.closed:
        return
    notify_the_states_change(audio_session, state)
    # Note 15: refused outright (not held): the elements that asked learn it, so that their
    # play() fails with NotAllowedError instead of waiting for ever.
    if state is INACTIVE:
        for element in list(audio_session._elements):
            if element.audible:
                element._activation_refused()


# -- Update the selected audio session ----------------------------------------------------------


def update_the_selected_audio_session(context: Window) -> None:
    """The spec's "update the selected audio session" of a top-level browsing context."""
    # 1. Active sessions of an exclusive computed type, breadth first.
    active_audio_sessions = [
        session
        for session in _audio_sessions_breadth_first(context)
        if session._state is ACTIVE and compute_the_audio_session_type(session).is_exclusive
    ]
    # 2. None: no session is selected (note 5: rather than keep a stale one).
    if not active_audio_sessions:
        context.selected_audio_session = None
        return
    # 3.
    if len(active_audio_sessions) == 1:
        context.selected_audio_session = active_audio_sessions[0]
        return
    # 4. Only auto sessions can be active together.
    if any(session._type is not AUTO for session in active_audio_sessions):
        log.warning("several active exclusive sessions with an explicit type in %s", context)
    # 5. Our heuristic: the most recently activated first.
    active_audio_sessions.sort(key=lambda session: session._activated_at, reverse=True)
    # 6.
    context.selected_audio_session = active_audio_sessions[0]


# -- Other algorithms ---------------------------------------------------------------------------


def update_all_audio_session_states(context: Window, updated_audio_session: AudioSession) -> None:
    """The spec's "update all AudioSession states" of ``context`` with the updated session."""
    # 1.
    update_the_selected_audio_session(context)
    # 2.
    updated_type = compute_the_audio_session_type(updated_audio_session)
    # 3.
    if not updated_type.is_exclusive or updated_audio_session._state is not ACTIVE:
        return
    # 4.
    audio_sessions = list(_audio_sessions_breadth_first(context))
    # 5. "Abort these steps" inside the loop reads as "continue" (note 1).
    for audio_session in audio_sessions:
        if audio_session is updated_audio_session:
            continue
        # 5.1
        if audio_session._state is not ACTIVE:
            continue
        # 5.2
        session_type = compute_the_audio_session_type(audio_session)
        # 5.3
        if not session_type.is_exclusive:
            continue
        # 5.4 Both auto: compare the [[type]] slots, the computed type is never auto (note 1).
        if audio_session._type is AUTO and updated_audio_session._type is AUTO:
            continue
        # 5.5 (note 2: it lost its place; its audible elements stop)
        inactivate(audio_session, stop_audible=True)


def compute_the_audio_session_type(audio_session: AudioSession) -> AudioSessionType:
    """The spec's "compute the audio session type"."""
    # 1.
    if audio_session._type is not AUTO:
        return audio_session._type
    # 2-5. The first default type, in this order, of an element whose state is active.
    active_default_types = {
        element.default_type
        for element in audio_session._elements
        if element_state(element) is ACTIVE
    }
    for candidate in _COMPUTED_TYPE_ORDER:
        if candidate in active_default_types:
            return candidate
    # 6.
    return AudioSessionType.AMBIENT


_COMPUTED_TYPE_ORDER = (
    AudioSessionType.PLAY_AND_RECORD,
    AudioSessionType.PLAYBACK,
    AudioSessionType.TRANSIENT_SOLO,
    AudioSessionType.TRANSIENT,
)


def element_state(element: SessionElement) -> AudioSessionState:
    """The spec's "element state"."""
    if element in element.audio_session._interrupted_elements:
        return INTERRUPTED
    if element.audible:
        return ACTIVE
    return INACTIVE


def update_an_element(element: SessionElement) -> None:
    """The spec's "update an element"."""
    # 1.
    audio_session = element.audio_session
    # 2.
    element._update_steps()
    # 3.
    if element.audible and audio_session._state is INTERRUPTED:
        # 3.1 (a list without repeats)
        if element not in audio_session._interrupted_elements:
            audio_session._interrupted_elements.append(element)
        # 3.2
        element._suspend_steps()
    # 4.
    if element in audio_session._interrupted_elements and audio_session._state is ACTIVE:
        # 4.1
        audio_session._interrupted_elements.remove(element)
        # 4.2
        element._resume_steps()


def audible_flag_changed(element: SessionElement, audible: bool) -> None:
    """The spec's steps "when the audible flag of one of audioSession's elements is changing"."""
    audio_session = element.audio_session
    # 1.
    if audible:
        try_activating(audio_session)
        if audio_session._state is ACTIVE:
            # Already active: the platform still learns an auto session's new computed type.
            _report_type(audio_session, compute_the_audio_session_type(audio_session))
        return
    # 2. Note 8: an interrupted session also waits for the platform to end the interruption
    #    when the program paused its elements itself (the seed's handler does that).
    if audio_session._state is INTERRUPTED or any(
        element_state(other) is INTERRUPTED for other in audio_session._elements
    ):
        return
    # Note 6: another element still audible keeps the session active.
    if any(other.audible for other in audio_session._elements):
        _report_type(audio_session, compute_the_audio_session_type(audio_session))
        return
    # 3.
    inactivate(audio_session)


# -- Note 7: an active session that has nothing to play goes back to inactive -------------------


def _schedule_silence_check(audio_session: AudioSession) -> None:
    if audio_session._silence_check_pending:
        return
    audio_session._silence_check_pending = True
    audio_session.window.runtime.loop.call_later(
        SILENT_SESSION_GRACE, _inactivate_if_silent, audio_session
    )


def _inactivate_if_silent(audio_session: AudioSession) -> None:
    audio_session._silence_check_pending = False
    if audio_session.window.closed or audio_session._state is not ACTIVE:
        return
    if audio_session._interrupted_elements or any(e.audible for e in audio_session._elements):
        return
    if any(element.pending_play for element in audio_session._elements):
        _schedule_silence_check(audio_session)
        return
    inactivate(audio_session)


def _audio_sessions_breadth_first(context: Window) -> Iterator[AudioSession]:
    queue: deque[Window] = deque([context])
    while queue:
        window = queue.popleft()
        if not window.closed:
            yield window.navigator.audio_session
        queue.extend(window.children)
