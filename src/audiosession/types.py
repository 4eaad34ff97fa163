"""The spec's enumerations, shared by every layer: audio session types and states."""

from __future__ import annotations

from enum import Enum


class AudioSessionType(str, Enum):
    """The spec's ``AudioSessionType``; a ``str`` so ``session.type == "playback"`` holds."""

    AUTO = "auto"
    PLAYBACK = "playback"
    TRANSIENT = "transient"
    TRANSIENT_SOLO = "transient-solo"
    AMBIENT = "ambient"
    PLAY_AND_RECORD = "play-and-record"

    def __str__(self) -> str:
        return self.value

    @property
    def is_exclusive(self) -> bool:
        """The spec's "exclusive type": playback, play-and-record or transient-solo."""
        return self in EXCLUSIVE_TYPES

    @classmethod
    def parse(cls, value: object) -> AudioSessionType:
        """The member for ``value``; ``TypeError`` for a non-string, ``ValueError`` naming the
        six valid values for an unknown one."""
        if isinstance(value, cls):
            return value
        if not isinstance(value, str):
            raise TypeError(
                f"audio session type must be a str, not {type(value).__name__}: {value!r}"
            )
        try:
            return cls(value)
        except ValueError:
            valid = ", ".join(repr(member.value) for member in cls)
            raise ValueError(
                f"{value!r} is not a valid audio session type; expected one of {valid}"
            ) from None


EXCLUSIVE_TYPES = frozenset(
    {AudioSessionType.PLAYBACK, AudioSessionType.PLAY_AND_RECORD, AudioSessionType.TRANSIENT_SOLO}
)


class AudioSessionState(str, Enum):
    """The spec's ``AudioSessionState``."""

    INACTIVE = "inactive"
    ACTIVE = "active"
    INTERRUPTED = "interrupted"

    def __str__(self) -> str:
        return self.value
