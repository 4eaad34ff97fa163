"""The spec layer: ``AudioSession``, its algorithms, windows and elements; touches no device."""

from audiosession.session.audio_session import AudioSession
from audiosession.session.element import SessionElement
from audiosession.session.window import Navigator, Window

__all__ = ["AudioSession", "Navigator", "SessionElement", "Window"]
