"""``MediaError``, why a media element failed, and ``MediaSourceError``, what a media source
raises with its code (a leaf: imports nothing of the elements)."""

from __future__ import annotations

from audiosession.errors import AudioSessionError, NetworkError, NotSupportedError

__all__ = ["MediaError", "MediaSourceError", "play_error"]


class MediaError:
    """Why a media element failed (HTML ``MediaError``): ``code``, one of the
    ``MEDIA_ERR_*`` constants, and ``message``."""

    MEDIA_ERR_ABORTED = 1
    MEDIA_ERR_NETWORK = 2
    MEDIA_ERR_DECODE = 3
    MEDIA_ERR_SRC_NOT_SUPPORTED = 4

    def __init__(self, code: int, message: str) -> None:
        self.code = code
        """The error's code: one of the ``MEDIA_ERR_*`` constants."""
        self.message = message
        """What went wrong, naming the source and the reason."""

    def __repr__(self) -> str:
        return f"MediaError(code={self.code}, message={self.message!r})"


class MediaSourceError(AudioSessionError):
    """A source that cannot be played; ``code`` is a ``MediaError`` code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def play_error(code: int, message: str) -> Exception:
    """What ``play()``'s future fails with for a ``MediaError`` of ``code``."""
    if code == MediaError.MEDIA_ERR_NETWORK:
        return NetworkError(message)
    return NotSupportedError(message)
