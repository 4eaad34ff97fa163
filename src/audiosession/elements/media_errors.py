"""The ``MediaError`` codes a media source fails with, and its error (a leaf: imports nothing of
the elements)."""

from __future__ import annotations

from audiosession.errors import AudioSessionError

__all__ = [
    "MEDIA_ERR_DECODE",
    "MEDIA_ERR_NETWORK",
    "MEDIA_ERR_SRC_NOT_SUPPORTED",
    "MediaSourceError",
]

MEDIA_ERR_NETWORK = 2
MEDIA_ERR_DECODE = 3
MEDIA_ERR_SRC_NOT_SUPPORTED = 4


class MediaSourceError(AudioSessionError):
    """A source that cannot be played; ``code`` is a ``MediaError`` code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
