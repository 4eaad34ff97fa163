"""Where a media element's audio comes from: a file path, a ``file:``, ``data:`` or HTTP(S) URL.

``open_media_source`` turns ``src`` into a ``MediaSource`` the mixer can read, or raises
``MediaSourceError`` with the ``MediaError`` code and a message naming the source and reason.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import os
import urllib.parse
import urllib.request
from typing import IO, Protocol

import numpy as np

from audiosession.elements.media_error import MediaError, MediaSourceError
from audiosession.engine.decode import DecodeError, open_audio

log = logging.getLogger(__name__)


class MediaSource(Protocol):
    """What a media element plays: audio read block by block at the engine's format.

    A source read from the network (``elements/network.py``) also offers ``start_loading``,
    ``ready`` and ``wait_playable``; the element uses them where they are."""

    @property
    def seekable(self) -> bool:
        """Whether ``seek`` works."""
        ...

    @property
    def has_audio(self) -> bool:
        """Whether there is audio to hear (a stream without tracks has none)."""
        ...

    @property
    def position(self) -> float:
        """Seconds of the media read so far (after a seek: from the sought position)."""
        ...

    @property
    def duration(self) -> float | None:
        """Seconds; ``nan`` until known, None for a stream of unknown length."""
        ...

    def read(self, frames: int) -> np.ndarray:
        """Up to ``frames`` frames (frames x channels, float32); fewer only at the end."""
        ...

    def seek(self, seconds: float) -> None:
        """Continue from ``seconds``; ``MediaSourceError`` if that cannot be done."""
        ...

    def close(self) -> None:
        """Release what the source holds (files, threads, connections)."""
        ...


class FileSource:
    """A decoded file (or in-memory body) read block by block at the engine's format.

    Reading decodes, so it is for a worker thread: the media element plays it through the
    engine's decode-ahead buffer (``decode_ahead``), never from the audio thread."""

    seekable = True
    has_audio = True
    decode_ahead = True
    reopenable = True  # opened again, it gives the same audio: it may rest (elements/media.py)

    def __init__(self, handle: str | IO[bytes], name: str, rate: int, channels: int) -> None:
        try:
            self._reader = open_audio(handle, rate=rate, channels=channels)
        except DecodeError as error:
            raise MediaSourceError(
                MediaError.MEDIA_ERR_SRC_NOT_SUPPORTED, _named(str(error), name)
            ) from None
        self.name = name

    def read(self, frames: int) -> np.ndarray:
        return self._reader.read(frames)

    def read_view(self, frames: int) -> np.ndarray:
        return self._reader.read_view(frames)

    def seek(self, seconds: float) -> None:
        try:
            self._reader.seek(seconds)
        except DecodeError as error:
            raise MediaSourceError(MediaError.MEDIA_ERR_DECODE, str(error)) from None

    @property
    def position(self) -> float:
        return self._reader.position

    @property
    def duration(self) -> float | None:
        return self._reader.duration

    def close(self) -> None:
        self._reader.close()


def check_can_open(src: str) -> None:
    """Raise ``MissingDependencyError`` now if ``src`` is a URL whose scheme needs a package
    that is not installed: a setup problem the program must hear of at once, not a media
    error after the load (the load itself runs off the loop and may take long)."""
    if url_scheme(src) in ("http", "https"):
        import audiosession.elements.network  # noqa: F401  (raises naming what to install)


def url_scheme(src: str) -> str:
    """The URL scheme of ``src`` (``http``, ``file``, ``data``, ...); "" for a file path."""
    return (
        urllib.parse.urlsplit(src).scheme.lower() if "://" in src or src.startswith("data:") else ""
    )


def open_media_source_or_failure(
    src: str, rate: int, channels: int
) -> MediaSource | MediaSourceError:
    """``open_media_source``, returning its failure rather than raising it (the work of an I/O
    thread, ``Loop.run_io``); an unexpected error is logged and fails the source too."""
    try:
        return open_media_source(src, rate, channels)
    except MediaSourceError as error:
        return error
    except Exception as error:  # a bug or an OS surprise: still an element error
        log.exception("opening %s failed", src)
        return MediaSourceError(
            MediaError.MEDIA_ERR_SRC_NOT_SUPPORTED, f"{src}: cannot be opened ({error})"
        )


def open_media_source(src: str, rate: int, channels: int) -> MediaSource:
    """A readable source for ``src`` at ``rate`` Hz and ``channels`` channels."""
    scheme = url_scheme(src)
    if scheme in ("", "file"):
        path = _file_path(src) if scheme == "file" else src
        if not os.path.exists(path):
            raise MediaSourceError(MediaError.MEDIA_ERR_SRC_NOT_SUPPORTED, f"{src}: no such file")
        if os.path.isdir(path):
            raise MediaSourceError(MediaError.MEDIA_ERR_SRC_NOT_SUPPORTED, f"{src}: is a directory")
        return FileSource(path, src, rate, channels)
    if scheme == "data":
        return FileSource(_data_body(src), _short(src), rate, channels)
    if scheme in ("http", "https"):
        from audiosession.elements.network import NetworkSource

        return NetworkSource(src, rate, channels)
    raise MediaSourceError(
        MediaError.MEDIA_ERR_SRC_NOT_SUPPORTED,
        f"{_short(src)}: unsupported URL scheme {scheme!r}; use a file path, file:, data:, "
        "http: or https:",
    )


def _file_path(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise MediaSourceError(
            MediaError.MEDIA_ERR_SRC_NOT_SUPPORTED,
            f"{url}: file URLs on another host are not supported",
        )
    return urllib.request.url2pathname(parts.path)


def _data_body(url: str) -> IO[bytes]:
    header, comma, payload = url[len("data:") :].partition(",")
    if not comma:
        raise MediaSourceError(
            MediaError.MEDIA_ERR_SRC_NOT_SUPPORTED, f"{_short(url)}: no ',' in data URL"
        )
    if header.endswith(";base64"):
        try:
            body = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError) as error:
            raise MediaSourceError(
                MediaError.MEDIA_ERR_SRC_NOT_SUPPORTED, f"{_short(url)}: bad base64 ({error})"
            ) from None
    else:
        body = urllib.parse.unquote_to_bytes(payload)
    return io.BytesIO(body)


def _short(src: str) -> str:
    return src if len(src) <= 60 else src[:57] + "..."


def _named(message: str, name: str) -> str:
    return message if name in message else f"{name}: {message}"
