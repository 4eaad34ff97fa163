"""What a media element hears from below, and the HTML events each report becomes: a
progressive source's reports (``elements.network``), and the engine's about the element's voice
(the end reached, a device unplugged) and its output (the sound server lost, back, or gone)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from audiosession.elements.media_error import MediaError
from audiosession.elements.media_resting import rest_source
from audiosession.engine.engine import DeviceRemoved, OutputFailed, OutputLost, OutputRestored
from audiosession.engine.mixer import VoiceEnded

if TYPE_CHECKING:
    from audiosession.elements.media import MediaElement


def source_event(element: MediaElement, generation: int, kind: str, *args: Any) -> None:
    """A progressive source's report, on the loop; ignored once another load began."""
    if element._released or generation != element._load_generation or element._source is None:
        return
    if kind == "error":
        element._fail(*args)
    elif kind == "loadedmetadata":
        element._fire("durationchange")
        element._fire("loadedmetadata")
    elif kind == "waiting":
        # HTML: playback stopped for lack of data; the session stays active.
        if not element._paused and not element._waiting:
            element._waiting = True
            element._fire("waiting")
    elif kind == "playing":
        if element._waiting or element._pending:
            element._started(element._pending.take())
    else:  # progress, canplay, stalled
        element._fire(kind)


def engine_event(element: MediaElement, event: Any) -> None:
    """The engine's report about the element's voice or its output."""
    if isinstance(event, VoiceEnded) and event.voice is element._voice:
        reached_the_end(element)
    elif isinstance(event, DeviceRemoved):
        element._sync_voice()  # moved off an unplugged device, held: play on if we should
    elif isinstance(event, OutputLost):
        output_lost(element)
    elif isinstance(event, OutputRestored):
        output_restored(element)
    elif isinstance(event, OutputFailed) and not element._paused:
        output_failed(element, event)


def reached_the_end(element: MediaElement) -> None:
    """HTML "reaches the end": paused, then ``timeupdate``, ``pause`` and ``ended`` fire."""
    element.audio_session.platform.audio.remove_voice(element._voice)
    element._voice = None
    element._ended = True
    element._paused = True
    element._queue_event("timeupdate")
    element._queue_event("pause")
    element._queue_event("ended")
    rest_source(element)  # play() starts it again from the start, opened anew
    element._refresh_audible()


def output_lost(element: MediaElement) -> None:
    """The sound server went away: playing, but nothing is heard (HTML ``waiting``)."""
    if not element._paused and not element._waiting:
        element._waiting = True
        element._queue_event("waiting")


def output_restored(element: MediaElement) -> None:
    """The sound server is back and the stream plays again: ``playing``."""
    source = element._source
    if element._waiting and not element._paused and source is not None and source.ready:
        element._started(element._pending.take())


def output_failed(element: MediaElement, event: OutputFailed) -> None:
    """The sound server did not come back: the element fails ("try again later")."""
    element._fail(
        MediaError.MEDIA_ERR_NETWORK,
        f"{element._src or 'the stream'}: cannot play: {event.reason}",
    )
