"""The converters that make another library's tracks ours, for ``MediaStream([...])``: an
integration (``audiosession.webrtc`` for aiortc) registers one when it is imported, so the
elements know no library above them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["register_track_converter", "own_track"]

_converters: list[tuple[Callable[[Any], bool], Callable[[Any], Any]]] = []


def register_track_converter(
    recognises: Callable[[Any], bool], convert: Callable[[Any], Any]
) -> None:
    """Convert each track that ``recognises(track)`` is true of with ``convert(track)``, a
    track of ours (a ``MediaStreamTrackGenerator``, say), when a ``MediaStream`` takes it."""
    _converters.append((recognises, convert))


def own_track(track: Any) -> Any:
    """``track`` as a track of this package: one of ours as it is, another library's through
    the converter registered for it."""
    for recognises, convert in _converters:
        if recognises(track):
            return convert(track)
    if not hasattr(track, "kind"):
        raise TypeError(
            f"a MediaStream holds tracks, not {track!r} (another library's tracks are taken "
            "once its integration is imported, e.g. audiosession.webrtc for aiortc's)"
        )
    return track
