"""``Window`` (a browsing context) and its ``Navigator``."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from audiosession.platforms.base import program_name
from audiosession.session.audio_session import (
    AudioSession,
    update_the_selected_audio_session,
)
from audiosession.session.runtime import Runtime, current_runtime

if TYPE_CHECKING:
    from audiosession.elements.capture import MediaDevices
    from audiosession.elements.media_session import MediaSession


class Navigator:
    """The window's ``Navigator``: ``audio_session``, ``media_devices`` and ``media_session``
    (each also under its spec spelling: ``audioSession``, ``mediaDevices``, ``mediaSession``)."""

    def __init__(self, window: Window) -> None:
        self._window: Window = window
        self._media_devices: MediaDevices | None = None
        self._media_session: MediaSession | None = None
        # "Upon creation of the Window object, its associated AudioSession MUST be set".
        self._audio_session = AudioSession(window)

    @property
    def audio_session(self) -> AudioSession:
        """The window's associated ``AudioSession`` (the same object every time)."""
        return self._audio_session

    @property
    def audioSession(self) -> AudioSession:  # noqa: N802
        """The spec's spelling of ``audio_session``."""
        return self._audio_session

    # The two below are objects of the elements layer, made on first use: the import is by
    # name, at that moment, so that the session layer loads nothing above it
    # (docs/architecture.md, "Where this departs").

    @property
    def media_devices(self) -> MediaDevices:
        """The window's ``MediaDevices`` (``get_user_media``, ``enumerate_devices``)."""
        if self._media_devices is None:
            from audiosession.elements.capture import MediaDevices

            self._media_devices = MediaDevices(self._window)
        return self._media_devices

    @property
    def mediaDevices(self) -> MediaDevices:  # noqa: N802
        """The spec's spelling of ``media_devices``."""
        return self.media_devices

    @property
    def media_session(self) -> MediaSession:
        """The window's ``MediaSession`` (metadata and action handlers, published on MPRIS)."""
        if self._media_session is None:
            from audiosession.elements.media_session import MediaSession

            self._media_session = MediaSession(self._window)
        return self._media_session

    @property
    def mediaSession(self) -> MediaSession:  # noqa: N802
        """The spec's spelling of ``media_session``."""
        return self.media_session

    def __repr__(self) -> str:
        return f"<Navigator of {self._window.name}>"


class Window:
    """A browsing context. ``Window()`` is a new top-level context; ``Window(parent=w)`` a child
    frame of ``w``. ``close()`` releases everything it holds, its children's too."""

    runtime: Runtime
    name: str
    closed: bool
    navigator: Navigator

    def __init__(self, parent: Window | None = None, *, runtime: Runtime | None = None) -> None:
        if parent is not None:
            if parent.closed:
                raise ValueError(f"cannot open a child frame of {parent.name}: it is closed")
            runtime = parent.runtime
        self.runtime = runtime if runtime is not None else current_runtime()
        self.parent = parent
        self.children: list[Window] = []
        self.top: Window = parent.top if parent is not None else self
        self.id = self.runtime.next_window_id()
        self.name = f"window-{self.id}"
        self.closed = False
        self.selected_audio_session: AudioSession | None = None
        with self.runtime.loop.lock:
            self.navigator = Navigator(self)
            # The platform first: if it cannot be had, no half-made window is left behind.
            self.runtime.platform.register(self.navigator.audio_session)
            self.runtime.windows.append(self)
            if parent is not None:
                parent.children.append(self)

    @property
    def owner(self) -> str:
        """Who holds this window's session, as ``platform().sessions()`` reports it: the
        program, its pid and the window (``music.py (pid 7), window-1``)."""
        return f"{program_name()} (pid {os.getpid()}), {self.name}"

    def close(self) -> None:
        """Close this window and its children: their elements stop and are freed, their
        sessions end (no ``statechange`` fires in a closed window), and whatever their sessions
        ducked, paused or delayed elsewhere is released at once."""
        with self.runtime.loop.lock:
            if self.closed:
                return
            for child in list(self.children):
                child.close()
            audio_session = self.navigator.audio_session
            self.closed = True
            audio_session._window_closed()
            self.runtime.platform.unregister(audio_session)
            if self in self.runtime.windows:
                self.runtime.windows.remove(self)
            if self.parent is not None:
                self.parent.children.remove(self)
                update_the_selected_audio_session(self.top)
            self.selected_audio_session = None

    def __enter__(self) -> Window:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        kind = "top-level" if self.parent is None else f"child of {self.parent.name}"
        return f"<Window {self.name} ({kind}){' closed' if self.closed else ''}>"
