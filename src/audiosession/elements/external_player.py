"""``ExternalPlayer``: audio the program plays elsewhere (mpv, pygame, sounddevice...), as an
audio session element.

The program tells it when its player plays, pauses and ends; the platform acts on the player
through the callbacks it was given: ``pause()`` and ``play()`` (an interruption and its end, a
refused activation, a stop, the media keys), ``set_gain(gain, ramp_seconds)`` (a duck and its
release, a stop's fade) and, if given, ``route(device_id)``. No engine stream is opened: the
sound is the player's. docs/players.md has the adapters for python-mpv, pygame and sounddevice.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any

from audiosession.events import EventHandler, EventTarget
from audiosession.policy import MEDIA_ROLES, type_for_role
from audiosession.session.element import SessionElement
from audiosession.session.runtime import Runtime
from audiosession.session.window import Window
from audiosession.types import AudioSessionType

log = logging.getLogger(__name__)

_Handler = EventHandler["ExternalPlayer"]


class ExternalPlayer(EventTarget, SessionElement):
    """``ExternalPlayer(pause, play, set_gain, *, window=None, kind="playback", route=None)``:
    a player of the program's own (a library, a child process) in its window's audio session.

    ``kind`` is what its audio counts as for the ``auto`` type: a session type
    (``"playback"``, ``"transient"``, ``"transient-solo"``, ``"ambient"``,
    ``"play-and-record"``) or a ``media.role`` (``"music"``, ``"event"``, ``"phone"``...).
    ``position``, if given, returns the player's position in seconds (shown by the media keys'
    applet). ``streams``, if given, is the sound-server client name (PulseAudio's
    ``application.name``; mpv's ``audio-client-name``) of the streams the player plays: the
    program's own streams of that name are this player, not adopted as players of their own
    (docs/players.md). Tell it ``playing()``, ``paused()`` and ``ended()``; ``close()`` (or
    leaving a ``with`` block) takes it out of the session.
    """

    onplay = _Handler("play", "the player plays (the program said so, or the platform resumed it)")
    onpause = _Handler("pause", "the player was paused (by the program or by the platform)")
    onended = _Handler("ended", "the program said the player ended")

    def __init__(
        self,
        pause: Callable[[], Any],
        play: Callable[[], Any],
        set_gain: Callable[[float, float], Any],
        *,
        window: Window | None = None,
        kind: str = "playback",
        route: Callable[[str | None], Any] | None = None,
        position: Callable[[], float | None] | None = None,
        streams: str | None = None,
    ) -> None:
        if streams is not None and not isinstance(streams, str):
            raise TypeError(f"ExternalPlayer's streams is a client name (str), not {streams!r}")
        for name, callback in (("pause", pause), ("play", play), ("set_gain", set_gain)):
            if not callable(callback):
                raise TypeError(f"ExternalPlayer's {name} must be callable, not {callback!r}")
        for name, optional in (("route", route), ("position", position)):
            if optional is not None and not callable(optional):
                raise TypeError(
                    f"ExternalPlayer's {name} must be callable or None, not {optional!r}"
                )
        self.default_type = _type_of_kind(kind)
        EventTarget.__init__(self)
        SessionElement.__init__(self, window)
        self._pause_player = pause
        self._play_player = play
        self._set_player_gain = set_gain
        self._route_player = route
        self._position = position
        self._playing = False
        self._ended = False
        self._suspended = False  # the platform paused it and may resume it
        self._gain = 1.0
        self._streams = streams
        if streams is not None:
            self.window.runtime.claim_streams(streams)
        # A player of this window can be published for media keys (MPRIS), as for Audio.
        self.window.navigator.media_session  # noqa: B018
        with self._loop_lock:
            self._follower = _SessionFollower(self)
            self.audio_session.platform.audio.add_outside_player(
                self.audio_session.session_id, self._follower
            )

    # -- what the program tells ---------------------------------------------------------------

    def playing(self) -> None:
        """The player plays now: the session may become active (the policy may then duck,
        pause or stop others). If the platform refuses or holds it, it calls ``pause()``."""
        with self._loop_lock:
            self._check_usable()
            self._suspended = False
            self._ended = False
            self._set_playing(True)

    def paused(self) -> None:
        """The player was paused by the program or its user: it will not be resumed after an
        interruption. While the platform holds it paused, this is the echo of its own
        ``pause()`` and changes nothing."""
        with self._loop_lock:
            self._check_usable()
            if self._suspended:
                return
            self.audio_session._forget_interrupted(self)
            self._set_playing(False)

    def ended(self) -> None:
        """The player's media ended (or the player was closed): nothing of it sounds, nothing
        will be resumed; ``playing()`` again starts it anew."""
        with self._loop_lock:
            self._check_usable()
            self.audio_session._forget_interrupted(self)
            self._suspended = False
            self._set_playing(False)
            if not self._ended:
                self._ended = True
                self._queue_event("ended")

    def close(self) -> None:
        """Take the player out of the session for good; the callbacks are not called again."""
        with self._loop_lock:
            if self._released:
                return
            if not self.window.closed:
                self.audio_session._forget_interrupted(self)
                self._suspended = False
                self._set_playing(False)
            self._release()

    def __enter__(self) -> ExternalPlayer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- what the program can read ------------------------------------------------------------

    @property
    def is_playing(self) -> bool:
        """Whether the player plays, as last told or as the platform left it."""
        return self._playing

    @property
    def has_ended(self) -> bool:
        """Whether ``ended()`` was the last word on the player."""
        return self._ended

    @property
    def gain(self) -> float:
        """The gain the platform last asked the player for (1.0 unless ducked or faded)."""
        return self._gain

    @property
    def position(self) -> float:
        """The player's position in seconds, from ``position``; ``nan`` without it."""
        if self._position is None:
            return math.nan
        try:
            seconds = self._position()
        except Exception:
            log.exception("exception in the position callback %r", self._position)
            return math.nan
        return math.nan if seconds is None else float(seconds)

    # -- the media keys (navigator.media_session's default play and pause) ---------------------

    def _play_for_media_keys(self) -> None:
        self._suspended = False
        self._ended = False
        self._call(self._play_player)
        self._set_playing(True)

    def _pause_for_media_keys(self) -> None:
        self.audio_session._forget_interrupted(self)
        self._suspended = False
        self._call(self._pause_player)
        self._set_playing(False)

    # -- the element contract -----------------------------------------------------------------

    def _is_audible_now(self) -> bool:
        return self._playing

    @property
    def _keeps_itself_alive(self) -> bool:
        # It sounds on its own while it plays, and is resumed if it was interrupted.
        return self._playing or self._suspended

    def _suspend_steps(self) -> None:
        # An interruption, a hold or a stop: the platform pauses the player.
        self._suspended = True
        self.window.runtime.loop.queue_task(self._suspend_task)

    def _suspend_task(self) -> None:
        if self._released or not self._suspended or not self._playing:
            return
        self._call(self._pause_player)
        self._set_playing(False)

    def _resume_steps(self) -> None:
        self.window.runtime.loop.queue_task(self._resume_task)

    def _resume_task(self) -> None:
        if self._released or not self._suspended:
            return
        self._suspended = False
        self._call(self._play_player)
        self._set_playing(True)

    def _activation_refused(self) -> None:
        if self._playing:
            self._call(self._pause_player)
            self._set_playing(False)

    def _release(self) -> None:
        self.audio_session.platform.audio.remove_outside_player(
            self.audio_session.session_id, self._follower
        )
        if self._streams is not None:
            self.window.runtime.unclaim_streams(self._streams)
        self._playing = False
        super()._release()

    # -- the session's gain and route (through _SessionFollower) -------------------------------

    def _apply_gain(self, gain: float, ramp: float) -> None:
        if not self._released:
            self._gain = gain
            self._call(self._set_player_gain, gain, ramp)

    def _apply_route(self, route: Callable[[str | None], Any], device_id: str | None) -> None:
        if not self._released:
            self._call(route, device_id)

    # -- plumbing -----------------------------------------------------------------------------

    @property
    def _loop_lock(self) -> Any:
        return self.window.runtime.loop.lock

    def _event_runtime(self) -> Runtime:
        return self.window.runtime

    def _queue_event(self, type: str) -> None:
        self.window.runtime.loop.queue_task(self._fire_if_open, type)

    def _fire_if_open(self, type: str) -> None:
        if not self._released:
            self._fire(type)

    def _set_playing(self, playing: bool) -> None:
        if playing != self._playing:
            self._playing = playing
            self._queue_event("play" if playing else "pause")
        self._refresh_audible()

    def _call(self, callback: Callable[..., Any], *args: Any) -> None:
        """Call one of the player's callbacks; what it raises is logged, not spread."""
        try:
            callback(*args)
        except Exception:
            log.exception("exception in the player's callback %r%r", callback, args)

    def __repr__(self) -> str:
        state = "ended" if self._ended else "playing" if self._playing else "paused"
        return f"<ExternalPlayer {self.default_type} {state} in {self.window.name}>"


class _SessionFollower:
    """The player's side of its session's gain and route (``LocalAudio.OutsidePlayer``): each
    change reaches the player's callbacks as a task, in order."""

    def __init__(self, player: ExternalPlayer) -> None:
        self.player = player

    def session_gain_changed(self, gain: float, ramp: float) -> None:
        self.player.window.runtime.loop.queue_task(self.player._apply_gain, gain, ramp)

    def session_route_changed(self, device_id: str | None) -> None:
        route = self.player._route_player
        if route is not None:
            self.player.window.runtime.loop.queue_task(self.player._apply_route, route, device_id)


def executable_name() -> str:
    """The program's executable as sound-server clients name it by default (``python3.11``):
    what libpulse and SDL call a client not given a name."""
    try:
        return os.path.basename(os.readlink("/proc/self/exe"))
    except OSError:
        return os.path.basename(sys.executable)


_KIND_WORDS = (
    "a session type other than 'auto' ("
    + ", ".join(repr(t.value) for t in AudioSessionType if t is not AudioSessionType.AUTO)
    + ") or a media.role ("
    + ", ".join(map(repr, MEDIA_ROLES))
    + ")"
)


def _type_of_kind(kind: object) -> AudioSessionType:
    """The default type of a player whose audio is of ``kind`` (a type or a media.role)."""
    if not isinstance(kind, str):
        raise TypeError(f"kind must be {_KIND_WORDS}, not {kind!r}")
    if kind in MEDIA_ROLES:
        return type_for_role(kind)
    if kind != AudioSessionType.AUTO:
        try:
            return AudioSessionType(kind)
        except ValueError:
            pass
    raise ValueError(f"kind must be {_KIND_WORDS}, not {kind!r}")
