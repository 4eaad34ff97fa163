"""``navigator.media_session``: the W3C Media Session subset, published as an MPRIS2 player.

    navigator.media_session.metadata = MediaMetadata(title="Song", artist="Band", album="LP")
    navigator.media_session.set_action_handler("nexttrack", lambda details: play_next())

A window's ``MediaSession`` holds ``metadata``, ``playback_state`` and the action handlers.
The user's media keys and ``playerctl`` act on it through MPRIS (``integrations.mpris``): Play,
Pause, PlayPause, Stop, Next, Previous, Seek and SetPosition become the actions ``play``,
``pause``, ``stop``, ``nexttrack``, ``previoustrack``, ``seekforward``/``seekbackward`` and
``seekto``. Without a handler, ``play`` and ``pause`` act on the window's media elements (pause
the playing ones; play again the ones that paused, else the last one paused) and ``stop``
pauses them; the others do nothing.

A window is published once its session becomes active with the computed type ``playback``
with at least one media element, and stays published (paused players included) until the
window closes, its type is set to one other than ``playback`` or ``auto``, or it has no media
element left. Everything here runs on the audiosession loop; the D-Bus thread only answers
property reads from the last snapshot (docs/media-session.md).
"""

from __future__ import annotations

import inspect
import logging
import math
import os
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from audiosession.elements.external_player import ExternalPlayer
from audiosession.elements.media import MediaElement
from audiosession.events import Event, run_awaitable, running_asyncio_loop
from audiosession.integrations import mpris
from audiosession.loop import Timer
from audiosession.platforms.base import program_name
from audiosession.session.window import Window
from audiosession.types import AudioSessionState, AudioSessionType

log = logging.getLogger(__name__)

REFRESH_INTERVAL = 0.5
"""Seconds between two checks of a published window (closed? type changed? new element?):
the changes that fire no event. Play, pause and session state changes are shown at once."""

TRACK_PATH = "/org/audiosession/track"


class MediaSessionAction(str, Enum):
    """The spec's ``MediaSessionAction``."""

    PLAY = "play"
    PAUSE = "pause"
    SEEKBACKWARD = "seekbackward"
    SEEKFORWARD = "seekforward"
    PREVIOUSTRACK = "previoustrack"
    NEXTTRACK = "nexttrack"
    SKIPAD = "skipad"
    STOP = "stop"
    SEEKTO = "seekto"
    TOGGLEMICROPHONE = "togglemicrophone"
    TOGGLECAMERA = "togglecamera"
    TOGGLESCREENSHARE = "togglescreenshare"
    HANGUP = "hangup"
    PREVIOUSSLIDE = "previousslide"
    NEXTSLIDE = "nextslide"
    ENTERPICTUREINPICTURE = "enterpictureinpicture"
    VOICEACTIVITY = "voiceactivity"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, value: object) -> MediaSessionAction:
        """The member for ``value``; a ``TypeError`` naming the valid actions otherwise (as
        WebIDL's enum conversion throws)."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            try:
                return cls(value)
            except ValueError:
                pass
        valid = ", ".join(repr(member.value) for member in cls)
        raise TypeError(f"{value!r} is not a media session action; expected one of {valid}")


class MediaSessionPlaybackState(str, Enum):
    """The spec's ``MediaSessionPlaybackState``."""

    NONE = "none"
    PAUSED = "paused"
    PLAYING = "playing"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, value: object) -> MediaSessionPlaybackState:
        """The member for ``value``; ``TypeError`` for a non-string, ``ValueError`` naming the
        three valid values for an unknown one (like ``AudioSession.type``)."""
        if isinstance(value, cls):
            return value
        if not isinstance(value, str):
            raise TypeError(f"playback_state must be a str, not {type(value).__name__}: {value!r}")
        try:
            return cls(value)
        except ValueError:
            valid = ", ".join(repr(member.value) for member in cls)
            raise ValueError(
                f"{value!r} is not a valid playback state; expected one of {valid}"
            ) from None


@dataclass(frozen=True)
class MediaSessionActionDetails:
    """What an action handler is called with: the ``action``, and for the seek actions
    ``seek_offset`` (seconds, seekforward/seekbackward) or ``seek_time`` (seconds, seekto)."""

    action: MediaSessionAction
    seek_offset: float | None = None
    seek_time: float | None = None
    fast_seek: bool | None = None

    @property
    def seekOffset(self) -> float | None:  # noqa: N802
        return self.seek_offset

    @property
    def seekTime(self) -> float | None:  # noqa: N802
        return self.seek_time

    @property
    def fastSeek(self) -> bool | None:  # noqa: N802
        return self.fast_seek

    def __getitem__(self, key: str) -> Any:
        """MDN's dictionary access: ``details["seekTime"]``."""
        names = {
            "action": "action",
            "seekOffset": "seek_offset",
            "seekTime": "seek_time",
            "fastSeek": "fast_seek",
        }
        return getattr(self, names.get(key, key))


def _text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(
            f"MediaMetadata.{name} must be a str, not {type(value).__name__}: {value!r}"
        )
    return value


def _artwork(value: object) -> tuple[dict[str, str], ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError(
            "MediaMetadata.artwork must be a list of images like "
            f"{{'src': 'cover.png', 'sizes': '512x512', 'type': 'image/png'}}, "
            f"not {value!r}"
        )
    images = []
    for image in value:
        if not isinstance(image, Mapping) or not isinstance(image.get("src"), str):
            raise TypeError(f"each artwork image must be a dict with a 'src' str, not {image!r}")
        unknown = set(image) - {"src", "sizes", "type"}
        if unknown or not all(isinstance(v, str) for v in image.values()):
            raise TypeError(
                f"an artwork image has the str keys 'src', 'sizes' and 'type'; "
                f"{image!r} does not fit"
            )
        images.append(dict(image))
    return tuple(images)


class MediaMetadata:
    """The spec's ``MediaMetadata``: ``title``, ``artist``, ``album`` and ``artwork``.

    ``MediaMetadata("Song", "Band", "LP")``, with keywords, or MDN's dictionary
    (``MediaMetadata({"title": "Song", "artist": "Band"})``). The attributes can be changed
    later; the media sessions that show this metadata show the change.
    """

    _KEYS = ("title", "artist", "album", "artwork")

    def __init__(
        self,
        title: str | Mapping[str, Any] = "",
        artist: str = "",
        album: str = "",
        artwork: Iterable[Mapping[str, str]] = (),
    ) -> None:
        if isinstance(title, Mapping):
            init = dict(title)
            unknown = sorted(set(init) - set(self._KEYS))
            if unknown:
                raise TypeError(
                    f"unknown MediaMetadata field(s) {', '.join(unknown)}; "
                    f"expected {', '.join(self._KEYS)}"
                )
            title = init.get("title", "")
            artist = init.get("artist", artist)
            album = init.get("album", album)
            artwork = init.get("artwork", artwork)
        self._title = _text("title", title)
        self._artist = _text("artist", artist)
        self._album = _text("album", album)
        self._artwork = _artwork(artwork)
        self._sessions: weakref.WeakSet[MediaSession] = weakref.WeakSet()

    def _changed(self) -> None:
        for session in list(self._sessions):
            session._metadata_changed()

    @property
    def title(self) -> str:
        """The media's title (shown by the system's media controls)."""
        return self._title

    @title.setter
    def title(self, value: str) -> None:
        self._title = _text("title", value)
        self._changed()

    @property
    def artist(self) -> str:
        """The media's artist."""
        return self._artist

    @artist.setter
    def artist(self, value: str) -> None:
        self._artist = _text("artist", value)
        self._changed()

    @property
    def album(self) -> str:
        """The media's album."""
        return self._album

    @album.setter
    def album(self, value: str) -> None:
        self._album = _text("album", value)
        self._changed()

    @property
    def artwork(self) -> tuple[dict[str, str], ...]:
        """Images as dicts with ``src`` (a path or URL), and optionally ``sizes`` and ``type``."""
        return tuple(dict(image) for image in self._artwork)

    @artwork.setter
    def artwork(self, value: Iterable[Mapping[str, str]]) -> None:
        self._artwork = _artwork(value)
        self._changed()

    def __repr__(self) -> str:
        return (
            f"MediaMetadata(title={self._title!r}, artist={self._artist!r}, album={self._album!r})"
        )


ActionHandler = Callable[..., Any]


@dataclass
class _Handler:
    callback: ActionHandler
    takes_details: bool
    asyncio_loop: Any


def _takes_an_argument(callback: ActionHandler) -> bool:
    try:
        parameters = inspect.signature(callback).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in parameters
    )


class MediaSession:
    """``navigator.media_session`` (alias ``mediaSession``): the spec's ``MediaSession``."""

    def __init__(self, window: Window) -> None:
        self.window = window
        self._metadata: MediaMetadata | None = None
        self._playback_state = MediaSessionPlaybackState.NONE
        self._handlers: dict[MediaSessionAction, _Handler] = {}
        self._known: weakref.WeakSet[Player] = weakref.WeakSet()
        # Held strongly: the play key must find them though the program dropped them.
        self._paused_by_default: list[Player] = []
        self._last_paused: weakref.ref[Player] | None = None
        self._track = 1
        self._player: mpris.MprisPlayer | None = None
        self._timer: Timer | None = None
        virtual = window.runtime.virtual_clock is not None
        self._publishing = mpris.publishing_enabled(virtual=virtual)
        with window.runtime.loop.lock:
            window.navigator.audio_session.add_event_listener("statechange", self._on_change)
            if self._publishing:
                self._refresh()

    # -- the spec's attributes ----------------------------------------------------------------

    @property
    def metadata(self) -> MediaMetadata | None:
        """The ``MediaMetadata`` shown to the user (title, artist, album), or None."""
        return self._metadata

    @metadata.setter
    def metadata(self, value: MediaMetadata | None) -> None:
        if value is not None and not isinstance(value, MediaMetadata):
            raise TypeError(f"metadata must be a MediaMetadata or None, not {value!r}")
        with self.window.runtime.loop.lock:
            if self._metadata is not None:
                self._metadata._sessions.discard(self)
            self._metadata = value
            if value is not None:
                value._sessions.add(self)
            self._metadata_changed()

    @property
    def playback_state(self) -> MediaSessionPlaybackState:
        """``none`` (default: the elements' state is shown), ``paused`` or ``playing``."""
        return self._playback_state

    @playback_state.setter
    def playback_state(self, value: MediaSessionPlaybackState | str) -> None:
        state = MediaSessionPlaybackState.parse(value)
        with self.window.runtime.loop.lock:
            self._playback_state = state
            self._changed()

    playbackState = playback_state  # noqa: N815

    def set_action_handler(
        self, action: MediaSessionAction | str, handler: ActionHandler | None
    ) -> None:
        """Call ``handler(details)`` (a ``MediaSessionActionDetails``; a handler taking no
        argument is called without) when the user asks for ``action``; None removes it.
        An unknown action raises ``TypeError`` naming the valid ones."""
        parsed = MediaSessionAction.parse(action)
        if handler is not None and not callable(handler):
            raise TypeError(f"an action handler must be callable or None, not {handler!r}")
        with self.window.runtime.loop.lock:
            if handler is None:
                self._handlers.pop(parsed, None)
            else:
                self._handlers[parsed] = _Handler(
                    handler, _takes_an_argument(handler), running_asyncio_loop()
                )
            self._changed()

    setActionHandler = set_action_handler  # noqa: N815

    # -- what the user's media keys do --------------------------------------------------------

    def perform_action(
        self,
        action: MediaSessionAction | str,
        *,
        seek_offset: float | None = None,
        seek_time: float | None = None,
    ) -> bool:
        """Do what pressing the media key for ``action`` does: call its handler, else the
        default (``play``, ``pause``, ``stop`` on the window's media elements). Returns
        whether anything handled it. Call it on the loop or from any thread."""
        parsed = MediaSessionAction.parse(action)
        with self.window.runtime.loop.lock:
            if self.window.closed:
                return False
            handler = self._handlers.get(parsed)
            if handler is not None:
                self._call(handler, MediaSessionActionDetails(parsed, seek_offset, seek_time))
                handled = True
            else:
                handled = self._default_action(parsed)
            self._changed()
            return handled

    def _call(self, handler: _Handler, details: MediaSessionActionDetails) -> None:
        try:
            result = handler.callback(details) if handler.takes_details else handler.callback()
            if inspect.isawaitable(result):
                run_awaitable(result, handler.asyncio_loop)
        except Exception:
            log.exception(
                "exception in the %r action handler %r", str(details.action), handler.callback
            )

    def _default_action(self, action: MediaSessionAction) -> bool:
        elements = self._media_elements()
        if action is MediaSessionAction.PLAY:
            wanted = [e for e in self._paused_by_default if e in elements and _paused(e)]
            last = self._last_paused() if self._last_paused is not None else None
            if not wanted and last is not None and last in elements and _paused(last):
                wanted = [last]
            if not wanted:
                wanted = [e for e in elements if _paused(e) and _playable(e)][:1]
            self._paused_by_default = []
            for element in wanted:
                _play(element)
            return bool(wanted)
        if action in (MediaSessionAction.PAUSE, MediaSessionAction.STOP):
            playing = [e for e in elements if not _paused(e)]
            for element in playing:
                _pause(element)
            self._paused_by_default = playing
            return bool(playing)
        log.debug("%s: no handler for the %r action", self.window.name, str(action))
        return False

    # -- the elements -------------------------------------------------------------------------

    def _media_elements(self) -> list[Player]:
        """The window's media elements and external players, each listened to once
        (play/pause show at once)."""
        elements = [
            e
            for e in self.window.navigator.audio_session.elements
            if isinstance(e, (MediaElement, ExternalPlayer)) and not e._released
        ]
        for element in elements:
            if element not in self._known:
                self._known.add(element)
                element.add_event_listener("play", self._on_change)
                element.add_event_listener("pause", self._on_change)
        return elements

    def _on_change(self, event: Event) -> None:
        if event.type == "pause" and isinstance(event.target, (MediaElement, ExternalPlayer)):
            self._last_paused = weakref.ref(event.target)
        self._refresh()

    def _metadata_changed(self) -> None:
        with self.window.runtime.loop.lock:
            self._track += 1
            self._changed()

    def _changed(self) -> None:
        if self._player is not None or self._publishing:
            self.window.runtime.loop.queue_task(self._refresh)

    # -- publishing (on the loop) -------------------------------------------------------------

    def _should_be_published(self, elements: list[Player]) -> bool:
        if self.window.closed or not elements:
            return False
        session = self.window.navigator.audio_session
        if session.type not in (AudioSessionType.AUTO, AudioSessionType.PLAYBACK):
            return False
        if self._player is not None:
            return True
        return (
            session.state is AudioSessionState.ACTIVE
            and session.computed_type is AudioSessionType.PLAYBACK
        )

    def _refresh(self) -> None:
        elements = [] if self.window.closed else self._media_elements()
        if self._player is not None and self._player.failed:
            self._withdraw()
            self._publishing = False  # the bus is unreachable or gone (logged by mpris)
        if not self._publishing and self._player is None:
            return
        if self._should_be_published(elements):
            if self._player is None:
                self._player = mpris.MprisService.shared().player(
                    self.window.runtime.loop, self._mpris_method
                )
                if self._player is None:
                    self._publishing = False  # no session bus: logged once, never retried
                    return
                log.debug(
                    "%s: published as the MPRIS player %s", self.window.name, self._player.bus_name
                )
                self._schedule_check()
            self._show(elements)
        elif self._player is not None:
            log.debug(
                "%s: the MPRIS player %s is withdrawn", self.window.name, self._player.bus_name
            )
            self._withdraw()

    def _withdraw(self) -> None:
        if self._player is not None:
            self._player.close()
            self._player = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _schedule_check(self) -> None:
        self._timer = self.window.runtime.loop.call_later(REFRESH_INTERVAL, self._check)

    def _check(self) -> None:
        self._timer = None
        self._refresh()
        if self._player is not None and self._timer is None:
            self._schedule_check()

    def _current(self, elements: list[Player]) -> Player | None:
        playing = [e for e in elements if not _paused(e)]
        if playing:
            return playing[-1]
        last = self._last_paused() if self._last_paused is not None else None
        if last is not None and last in elements:
            return last
        return elements[0] if elements else None

    def _status(self, elements: list[Player]) -> str:
        if self._playback_state is MediaSessionPlaybackState.PLAYING:
            return "Playing"
        if self._playback_state is MediaSessionPlaybackState.PAUSED:
            return "Paused"
        if any(not _paused(e) for e in elements):
            return "Playing"
        if elements and all(_ended(e) for e in elements):
            return "Stopped"
        return "Paused"

    def _show(self, elements: list[Player]) -> None:
        assert self._player is not None
        current = self._current(elements)
        status = self._status(elements)
        handlers = self._handlers
        seekable = bool(
            {
                MediaSessionAction.SEEKTO,
                MediaSessionAction.SEEKFORWARD,
                MediaSessionAction.SEEKBACKWARD,
            }
            & set(handlers)
        )
        volume = _volume(current)
        root: mpris.Properties = {
            "CanQuit": ("b", False),
            "CanRaise": ("b", False),
            "HasTrackList": ("b", False),
            "Identity": ("s", f"{program_name()} ({self.window.name})"),
            "SupportedUriSchemes": ("as", []),
            "SupportedMimeTypes": ("as", []),
        }
        player: mpris.Properties = {
            "PlaybackStatus": ("s", status),
            "Rate": ("d", 1.0),
            "MinimumRate": ("d", 1.0),
            "MaximumRate": ("d", 1.0),
            "Volume": ("d", float(volume)),
            "Metadata": ("a{sv}", self._mpris_metadata(current)),
            "CanGoNext": ("b", MediaSessionAction.NEXTTRACK in handlers),
            "CanGoPrevious": ("b", MediaSessionAction.PREVIOUSTRACK in handlers),
            "CanPlay": ("b", True),
            "CanPause": ("b", True),
            "CanSeek": ("b", seekable),
            "CanControl": ("b", True),
        }
        position = _position(current)
        self._player.update(root, player, position=position, playing=status == "Playing")

    def _mpris_metadata(self, current: Player | None) -> dict[str, mpris.Variant]:
        metadata: dict[str, mpris.Variant] = {
            "mpris:trackid": ("o", f"{TRACK_PATH}/{self._track}"),
        }
        info = self._metadata
        if info is not None:
            metadata["xesam:title"] = ("s", info.title)
            metadata["xesam:artist"] = ("as", [info.artist] if info.artist else [])
            metadata["xesam:album"] = ("s", info.album)
            if info.artwork:
                metadata["mpris:artUrl"] = ("s", _uri(info.artwork[0]["src"]))
        elif isinstance(current, MediaElement) and current.src:
            metadata["xesam:title"] = ("s", os.path.basename(current.src.rstrip("/")))
        if isinstance(current, MediaElement) and 0 < current.duration < float("inf"):
            metadata["mpris:length"] = ("x", int(current.duration * 1e6))
        return metadata

    def _mpris_method(self, method: str, args: tuple[Any, ...]) -> None:
        """An MPRIS method call, run as a task on the loop."""
        with self.window.runtime.loop.lock:
            if self.window.closed:
                return
            action = _MPRIS_ACTIONS.get(method)
            if method == "PlayPause":
                playing = self._status(self._media_elements()) == "Playing"
                action = MediaSessionAction.PAUSE if playing else MediaSessionAction.PLAY
            if action is not None:
                self.perform_action(action)
            elif method == "Seek" and args:
                self._seek_by(args[0] / 1e6)
            elif method == "SetPosition" and len(args) == 2:
                self.perform_action(MediaSessionAction.SEEKTO, seek_time=max(0.0, args[1] / 1e6))
            else:
                log.debug("%s: MPRIS %s%r is not supported", self.window.name, method, args)

    def _seek_by(self, offset: float) -> None:
        action = MediaSessionAction.SEEKFORWARD if offset >= 0 else MediaSessionAction.SEEKBACKWARD
        if action in self._handlers:
            self.perform_action(action, seek_offset=abs(offset))
            return
        position = _position(self._current(self._media_elements()))
        self.perform_action(MediaSessionAction.SEEKTO, seek_time=max(0.0, position + offset))

    def __repr__(self) -> str:
        published = f" published as {self._player.bus_name}" if self._player else ""
        return f"<MediaSession of {self.window.name} {self._playback_state}{published}>"


_MPRIS_ACTIONS = {
    "Play": MediaSessionAction.PLAY,
    "Pause": MediaSessionAction.PAUSE,
    "Stop": MediaSessionAction.STOP,
    "Next": MediaSessionAction.NEXTTRACK,
    "Previous": MediaSessionAction.PREVIOUSTRACK,
}


Player = MediaElement | ExternalPlayer
"""What the media keys act on: the window's media elements and its external players."""


def _paused(player: Player) -> bool:
    return player.paused if isinstance(player, MediaElement) else not player.is_playing


def _ended(player: Player) -> bool:
    return player.ended if isinstance(player, MediaElement) else player.has_ended


def _playable(player: Player) -> bool:
    return player.error is None if isinstance(player, MediaElement) else True


def _play(player: Player) -> None:
    if isinstance(player, MediaElement):
        player.play()
    else:
        player._play_for_media_keys()


def _pause(player: Player) -> None:
    if isinstance(player, MediaElement):
        player.pause()
    else:
        player._pause_for_media_keys()


def _position(player: Player | None) -> float:
    if isinstance(player, MediaElement):
        return player.current_time
    position = player.position if player is not None else math.nan
    return 0.0 if math.isnan(position) else position


def _volume(player: Player | None) -> float:
    if isinstance(player, MediaElement):
        return 0.0 if player.muted else player.volume
    return 0.0 if player is None else 1.0


def _uri(src: str) -> str:
    return src if "://" in src else Path(src).absolute().as_uri()
