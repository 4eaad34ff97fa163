"""pygame-ce's mixer in the session: ``session_mixer()`` (the ``players`` extra).

    import pygame
    from audiosession.integrations.pygame import session_mixer

    pygame.mixer.init()
    mixer = session_mixer()                # an ExternalPlayer for all of pygame's mixer
    pygame.mixer.music.load("theme.ogg")
    pygame.mixer.music.play(-1)
    mixer.playing()                        # tell it when the game's audio plays or pauses

One player stands for the program's whole mixer: ``pygame.mixer.music`` and every ``Sound``
channel. The platform pauses them with pygame's own pause (``music.pause()`` and
``pygame.mixer.pause()``: they play on from where they were) and ducks them through
``music.set_volume`` and each ``Channel.set_volume``, relative to the volumes the game set.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from audiosession.elements.external_player import ExternalPlayer, executable_name
from audiosession.errors import InvalidStateError, MissingDependencyError
from audiosession.integrations.stepped_gain import SteppedGain
from audiosession.session.window import Window

try:
    import pygame
    import pygame.mixer
except ImportError:
    raise MissingDependencyError(
        "audiosession.integrations.pygame needs pygame-ce, "
        "an optional extra: pip install 'audiosession[players]'"
    ) from None

__all__ = ["session_mixer"]


def session_mixer(*, window: Window | None = None, kind: str = "playback") -> ExternalPlayer:
    """An ``ExternalPlayer`` for pygame's mixer (its music and its ``Sound`` channels), in
    ``window``'s session (default: the top-level window's). ``pygame.mixer.init()`` first;
    tell the player ``playing()``, ``paused()`` and ``ended()`` as the game's audio goes."""
    if not pygame.mixer.get_init():
        raise InvalidStateError(
            "session_mixer needs pygame's mixer initialised: call pygame.mixer.init() first"
        )
    return _MixerPlayer(window, kind)


def sdl_client_name() -> str:
    """The name SDL gives its PulseAudio client (the stream's ``application.name``): its
    hints, else the program's executable."""
    for hint in ("SDL_AUDIO_DEVICE_APP_NAME", "SDL_APP_NAME"):
        if os.environ.get(hint):
            return os.environ[hint]
    return executable_name()


class _MixerPlayer(ExternalPlayer):
    """An ``ExternalPlayer`` that pauses and scales pygame's mixer."""

    def __init__(self, window: Window | None, kind: str) -> None:
        self._music_was_playing = False
        self._music = _Volume(pygame.mixer.music.get_volume, pygame.mixer.music.set_volume)
        self._channels: dict[int, _Volume] = {}
        self._stepped = SteppedGain(self._set_volumes, "audiosession-pygame-gain")
        super().__init__(
            self._pause,
            self._play,
            lambda gain, ramp: self._stepped.move(gain, ramp),
            window=window,
            kind=kind,
            streams=sdl_client_name(),
        )

    def _pause(self) -> None:
        self._music_was_playing = pygame.mixer.music.get_busy()
        pygame.mixer.music.pause()
        pygame.mixer.pause()

    def _play(self) -> None:
        if self._music_was_playing:
            pygame.mixer.music.unpause()
        pygame.mixer.unpause()

    def _set_volumes(self, gain: float) -> None:
        if not pygame.mixer.get_init():
            return  # the game closed its mixer: nothing sounds
        self._music.scale(gain)
        for number in range(pygame.mixer.get_num_channels()):
            if number not in self._channels:
                channel = pygame.mixer.Channel(number)
                self._channels[number] = _Volume(channel.get_volume, channel.set_volume)
            self._channels[number].scale(gain)


class _Volume:
    """One of pygame's volumes (the music's, a channel's) scaled by the session's gain. What
    pygame reports that is not what we last set is the game's own volume (pygame also sets a
    channel's volume to 1 when a ``Sound`` starts on it): the base the gain scales."""

    def __init__(self, get: Callable[[], float], set: Callable[[float], object]) -> None:
        self._get = get
        self._set = set
        self._base = get()
        self._ours: float | None = None

    def scale(self, gain: float) -> None:
        current = self._get()
        if current != self._ours:
            self._base = current
        self._set(self._base * gain)
        self._ours = self._get()  # pygame keeps volumes in 1/128 steps
