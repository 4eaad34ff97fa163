"""A media element's file rests while the element does not play (docs/media.md, *What an
element holds*): its file, decoder, buffer and voice are closed and where it stood is kept;
``play()`` opens the file again, off the loop, and the element plays on from there."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from audiosession.elements.media_error import MediaSourceError

if TYPE_CHECKING:
    from audiosession.elements.media import MediaElement

IDLE_SOURCE_SECONDS = 10.0
"""Seconds a paused element keeps its file open before it rests (docs/media.md): a pause and
a play within them cost nothing; after them, ``play()`` opens the file again first."""


def rest_later(element: MediaElement) -> None:
    """Rest the source if the element is still paused ``IDLE_SOURCE_SECONDS`` from now.
    The timer does not keep the element alive: dropped, it goes with its file at once."""
    element._pauses += 1
    element.window.runtime.loop.call_later(
        IDLE_SOURCE_SECONDS, _rest_if_still_paused, weakref.ref(element), element._pauses
    )


def _rest_if_still_paused(element: weakref.ref[MediaElement], pauses: int) -> None:
    audio = element()
    if audio is not None and not audio._released and audio._paused and pauses == audio._pauses:
        rest_source(audio)


def rest_source(element: MediaElement) -> None:
    """Close the file, decoder, buffer and voice; keep where it stood."""
    source = element._source
    if source is None or source.resting or source.waking or not source.can_rest:
        return
    if element._voice is not None:
        element.audio_session.platform.audio.remove_voice(element._voice)
        element._voice = None
    source.rest()


def wake_source(element: MediaElement) -> None:
    """Open the resting file again, off the loop; the element plays on once it is open."""
    assert element._source is not None
    if not element._source.waking:
        element._source.waking = True
        element._open_off_the_loop(element._src, lambda result: _woken(element, result))


def _woken(element: MediaElement, result: Any) -> None:
    source = element._source
    if source is None or not source.resting:  # the element failed meanwhile
        if not isinstance(result, MediaSourceError):
            result.close()
        return
    if isinstance(result, MediaSourceError):  # the file went away while it rested
        element._fail(result.code, str(result))
        return
    source.wake(result)
    element._refresh_audible()
    element._sync_voice()
    if element._paused:
        rest_later(element)
