"""python-mpv in the session: ``session_player(mpv.MPV())`` (the ``players`` extra).

    import mpv
    from audiosession.integrations.mpv import session_player

    player = mpv.MPV()
    session = session_player(player)       # an ExternalPlayer that follows the player
    player.play("song.flac")

It watches mpv's ``pause`` and ``idle-active`` and tells the session; the platform pauses the
player with mpv's own pause (``time-pos`` holds, play goes on from there), ducks it through its
``volume`` (relative to the user's volume, which it watches too) and sends it to the session's
device through ``audio-device`` (on PulseAudio).
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from audiosession.elements.external_player import ExternalPlayer
from audiosession.errors import MissingDependencyError
from audiosession.integrations.stepped_gain import SteppedGain
from audiosession.session.window import Window

try:
    import mpv
except ImportError:
    raise MissingDependencyError(
        "audiosession.integrations.mpv needs python-mpv (and libmpv: Debian's libmpv2), "
        "an optional extra: pip install 'audiosession[players]'"
    ) from None
except OSError as error:  # the Python package is there, libmpv is not
    raise MissingDependencyError(
        f"python-mpv cannot load libmpv ({error}); install it: apt-get install libmpv2"
    ) from None

__all__ = ["session_player"]


def session_player(
    player: mpv.MPV, *, window: Window | None = None, kind: str = "playback"
) -> ExternalPlayer:
    """An ``ExternalPlayer`` for the mpv ``player``, in ``window``'s session (default: the
    top-level window's). ``close()`` it to stop following the player."""
    if not isinstance(player, mpv.MPV):
        raise TypeError(f"session_player takes an mpv.MPV, not {player!r}")
    return _MpvPlayer(player, window, kind)


def mpv_volume(user_volume: float, gain: float) -> float:
    """The mpv ``volume`` that plays at ``gain`` times ``user_volume``: mpv's volume is cubic
    (its amplitude is (volume / 100) ** 3; measured in tests/players/test_mpv.py)."""
    return user_volume * gain ** (1 / 3)


def _as_mpv_stores(volume: float) -> float:
    """``volume`` as mpv keeps and reports it: a 32-bit float."""
    return float(np.float32(volume))


_ECHOES = 64
"""How many of our own last volumes a ``volume`` change may be the echo of (a ramp's steps
arrive from mpv's event thread some steps late)."""


class _MpvPlayer(ExternalPlayer):
    """An ``ExternalPlayer`` whose reports come from mpv's property changes."""

    def __init__(self, player: mpv.MPV, window: Window | None, kind: str) -> None:
        self._mpv = player
        self._user_volume = float(player.volume)
        self._written: deque[float] = deque(maxlen=_ECHOES)
        self._stepped = SteppedGain(self._set_mpv_volume, "audiosession-mpv-gain")
        super().__init__(
            self._pause,
            self._play,
            lambda gain, ramp: self._stepped.move(gain, ramp),
            window=window,
            kind=kind,
            route=self._route,
            position=lambda: player.time_pos,
            streams=str(player["audio-client-name"]),
        )
        self._observed = False
        player.observe_property("pause", self._changed)
        player.observe_property("idle-active", self._changed)
        player.observe_property("volume", self._volume_changed)
        self._observed = True

    def _pause(self) -> None:
        self._mpv.pause = True

    def _play(self) -> None:
        self._mpv.pause = False

    def _set_mpv_volume(self, gain: float) -> None:
        volume = mpv_volume(self._user_volume, gain)
        self._written.append(_as_mpv_stores(volume))
        self._mpv.volume = volume

    def _volume_changed(self, name: str, volume: float | None) -> None:
        """mpv's event thread: ``volume`` changed, by us (a step of a ramp) or by the user.
        The user's volume is the new base: the gain under way applies to it at once, and a
        duck's release ends on it."""
        if self._released or volume is None or volume in self._written:
            return
        self._user_volume = float(volume)
        if self._stepped.value != 1.0:
            self._stepped.reapply()

    def _route(self, device_id: str | None) -> None:
        # On PulseAudio the session's devices are sinks that mpv lists as pulse/<sink>.
        names = {device["name"] for device in self._mpv.audio_device_list}
        wanted = f"pulse/{device_id}"
        if device_id is None or wanted not in names:
            self._mpv.audio_device = "auto"
        else:
            self._mpv.audio_device = wanted

    def _changed(self, name: str, value: Any) -> None:
        """mpv's event thread: ``pause`` or ``idle-active`` changed."""
        if self._released:
            return
        if self._mpv.idle_active:
            if self.is_playing:
                self.ended()
        elif self._mpv.pause:
            self.paused()
        else:
            self.playing()

    def close(self) -> None:
        if self._observed:
            self._observed = False
            for name, observer in (
                ("pause", self._changed),
                ("idle-active", self._changed),
                ("volume", self._volume_changed),
            ):
                try:
                    self._mpv.unobserve_property(name, observer)
                except (ValueError, mpv.ShutdownError):
                    pass  # mpv was terminated: it observes nothing any more
        super().close()
