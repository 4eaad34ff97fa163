"""The program's own PulseAudio / PipeWire streams that are not ours (mpv's, pygame's, a
libpulse-simple thread's) as ``ExternalPlayer`` elements of its top-level window's session,
with no code of the program's: ``AdoptedStreams`` makes one player per stream that
``engine.backends.pulse.own_streams`` reports, and gives the player that controller's duck and
hold as callbacks (docs/bridge.md, "The program's own streams").

Started by the process's runtime when its default window is made, in real time only;
``$AUDIOSESSION_OWN_STREAMS`` = ``on`` (default), ``children`` (the streams of child
processes too) or ``off``."""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING

from audiosession.elements.external_player import ExternalPlayer
from audiosession.engine.backends.pulse.own_streams import OwnStream, OwnStreams
from audiosession.environment import env_choice
from audiosession.policy import MEDIA_ROLES

if TYPE_CHECKING:
    from audiosession.session.runtime import Runtime

log = logging.getLogger(__name__)

__all__ = ["ENABLE_ENV", "AdoptedStreams", "adopt_own_streams", "kind_of"]

ENABLE_ENV = "AUDIOSESSION_OWN_STREAMS"
ENABLE_VALUES = ("on", "children", "off")


def adopt_own_streams(runtime: Runtime) -> AdoptedStreams | None:
    """Start adopting the process's own streams into ``runtime``'s default window, as
    ``$AUDIOSESSION_OWN_STREAMS`` says; None when it is off or there is no PulseAudio
    client library (logged)."""
    value = env_choice(ENABLE_ENV, ENABLE_VALUES, "on")
    if value == "off":
        return None
    try:
        adopted = AdoptedStreams(runtime, children=value == "children")
    except ImportError as error:
        log.info("the program's own streams are not adopted: %s", error)
        return None
    adopted.start()
    return adopted


def kind_of(role: str | None) -> str:
    """The ``ExternalPlayer`` kind of a stream with ``media.role`` ``role``: the role where it
    is one PulseAudio knows, else ``playback``."""
    return role if role in MEDIA_ROLES else "playback"


class AdoptedStreams:
    """One ``ExternalPlayer`` in ``runtime``'s default window per own stream reported (see
    the module docstring); ``close()`` ends them and gives the streams back."""

    def __init__(self, runtime: Runtime, *, children: bool = False) -> None:
        self._runtime = runtime
        self._players: dict[int, ExternalPlayer] = {}
        self._programs: dict[int, str] = {}  # index -> its application.name
        self.streams = OwnStreams(self, children=children)

    def start(self) -> None:
        self._runtime.platform.adopting_own_streams(self.streams.children)
        self.streams.start()

    def close(self) -> None:
        """Stop adopting; the players' streams get their volume and mute back."""
        self.streams.close()
        for player in list(self._players.values()):
            player.close()
        self._players.clear()

    # -- what OwnStreams reports (its worker thread): handed to the loop, in order ----------

    def appeared(self, stream: OwnStream, playing: bool) -> None:
        self._runtime.loop.queue_task(self._adopt, stream, playing)

    def playing(self, index: int) -> None:
        self._runtime.loop.queue_task(self._plays, index)

    def paused(self, index: int) -> None:
        self._runtime.loop.queue_task(self._pauses, index)

    def gone(self, index: int) -> None:
        self._runtime.loop.queue_task(self._end, index)

    # -- on the loop ------------------------------------------------------------------------

    def give_back(self, program: str) -> None:
        """An ``ExternalPlayer`` of the program stands for ``program``'s streams now: the
        players adopted for them end, and their streams get their volume and mute back."""
        for index in [i for i, name in self._programs.items() if name == program]:
            del self._programs[index]
            self.streams.set_gain(index, 1.0)
            self.streams.hold(index, False)
            self._players.pop(index).close()
            log.info("own stream #%d of %s is its ExternalPlayer's, not adopted", index, program)

    def _adopt(self, stream: OwnStream, playing: bool) -> None:
        if self._runtime.closed or stream.index in self._players:
            return
        if self._runtime.claimed_streams[stream.program]:
            log.debug("own stream #%d of %s is an ExternalPlayer's", stream.index, stream.program)
            return
        window = self._runtime.default_window
        index = stream.index
        player = ExternalPlayer(
            pause=functools.partial(self.streams.hold, index, True),
            play=functools.partial(self.streams.hold, index, False),
            set_gain=functools.partial(self.streams.set_gain, index),
            window=window,
            kind=kind_of(stream.role),
        )
        self._players[index] = player
        self._programs[index] = stream.program
        log.info(
            "adopted own stream #%d of %s (media.role %r) into %s",
            index,
            stream.program,
            stream.role,
            window.name,
        )
        if playing:
            player.playing()

    def _plays(self, index: int) -> None:
        player = self._players.get(index)
        if player is None:
            return
        player.playing()
        # A stream held for good (a stop) that its player starts again is the program's
        # wish: it sounds unless the platform refuses it, which pauses the player again.
        self.streams.hold(index, False)

    def _pauses(self, index: int) -> None:
        player = self._players.get(index)
        if player is not None:
            player.paused()

    def _end(self, index: int) -> None:
        self._programs.pop(index, None)
        player = self._players.pop(index, None)
        if player is not None:
            player.ended()
            player.close()
