"""python-mpv in the session: ``session_player(mpv.MPV())`` (the ``players`` extra).

    import mpv
    from audiosession.integrations.mpv import session_player

    player = mpv.MPV()
    session = session_player(player)       # an ExternalPlayer that follows the player
    player.play("song.flac")

It watches mpv's ``pause`` and ``idle-active`` and tells the session; the platform pauses the
player with mpv's own pause (``time-pos`` holds, play goes on from there), ducks it through its
``volume`` and sends it to the session's device through ``audio-device`` (on PulseAudio).
"""

from __future__ import annotations

from typing import Any

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


class _MpvPlayer(ExternalPlayer):
    """An ``ExternalPlayer`` whose reports come from mpv's property changes."""

    def __init__(self, player: mpv.MPV, window: Window | None, kind: str) -> None:
        self._mpv = player
        # mpv's volume is cubic (100 * gain ** (1/3) is gain); the user's own volume is the base.
        self._base_volume = float(player.volume)
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
        self._observed = True

    def _pause(self) -> None:
        self._mpv.pause = True

    def _play(self) -> None:
        self._mpv.pause = False

    def _set_mpv_volume(self, gain: float) -> None:
        self._mpv.volume = self._base_volume * gain ** (1 / 3)

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
            for name in ("pause", "idle-active"):
                try:
                    self._mpv.unobserve_property(name, self._changed)
                except (ValueError, mpv.ShutdownError):
                    pass  # mpv was terminated: it observes nothing any more
        super().close()
