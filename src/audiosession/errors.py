"""Errors named as the DOM names them; all are ``AudioSessionError``s."""

from __future__ import annotations


class AudioSessionError(Exception):
    """Base of every error this package raises on purpose."""

    name = "AudioSessionError"


class NotAllowedError(AudioSessionError):
    """The platform refused: for example playback or capture that the policy does not allow."""

    name = "NotAllowedError"


class NotSupportedError(AudioSessionError):
    """There is no decodable audio in a source, or an operation is not supported."""

    name = "NotSupportedError"


class NotFoundError(AudioSessionError):
    """A device or object that was asked for does not exist."""

    name = "NotFoundError"


class InvalidStateError(AudioSessionError):
    """The object is in a state that does not allow the operation (closed, ended, ...)."""

    name = "InvalidStateError"


class AbortError(AudioSessionError):
    """An operation was cancelled before it completed, e.g. ``play()`` ended by ``pause()``."""

    name = "AbortError"


class NetworkError(AudioSessionError):
    """Media could not be fetched: a refused connection, a timeout, a cut mid-stream."""

    name = "NetworkError"
