"""The base of every error this package raises for its own reasons, and the DOM's errors.

Each error class of the package derives from ``AudioSessionError``; one that callers may catch
as a builtin has that builtin as a second base (a bad configuration value is also a
``ValueError``, a lost daemon also a ``RuntimeError``). Every name ends in ``Error``.

A mistake in how the package is called is reported as Python's own functions report it, with
the builtin itself: a wrong argument type or value (``TypeError`` / ``ValueError``,
docs/spec-notes.md note 11), waiting for a future on the thread that must settle it
(``RuntimeError``).
"""

from __future__ import annotations

from typing import Any


class AudioSessionError(Exception):
    """Base of every error this package raises for its own reasons. ``name`` is the class's
    name, as the DOM's ``DOMException.name`` is."""

    name: str = "AudioSessionError"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.name = cls.__name__


class NotAllowedError(AudioSessionError):
    """The platform refused: for example playback or capture that the policy does not allow."""


class NotSupportedError(AudioSessionError):
    """There is no decodable audio in a source, or an operation is not supported."""


class NotFoundError(AudioSessionError):
    """A device or object that was asked for does not exist."""


class InvalidStateError(AudioSessionError):
    """The object is in a state that does not allow the operation (closed, ended, ...)."""


class AbortError(AudioSessionError):
    """An operation was cancelled before it completed, e.g. ``play()`` ended by ``pause()``."""


class NetworkError(AudioSessionError):
    """Media could not be fetched: a refused connection, a timeout, a cut mid-stream."""


class MissingDependencyError(AudioSessionError, ModuleNotFoundError):  # type: ignore[misc]
    """A Python package that a feature needs is not installed: the message names the package,
    what needs it and the ``pip install`` that brings it (``audiosession[webrtc]`` for
    ``audiosession.webrtc``). A ``ModuleNotFoundError``, so code that catches that still does;
    ``name`` stays the class's name (ImportError's would be the missing module's)."""
