"""The policy's table: the five session types it knows, the effects a cell can have, the default
table (docs/policy.md) and the ``media.role`` each type's streams carry."""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from types import MappingProxyType

from audiosession.types import AudioSessionType

AMBIENT = AudioSessionType.AMBIENT
TRANSIENT = AudioSessionType.TRANSIENT
PLAYBACK = AudioSessionType.PLAYBACK
TRANSIENT_SOLO = AudioSessionType.TRANSIENT_SOLO
PLAY_AND_RECORD = AudioSessionType.PLAY_AND_RECORD

CONCRETE_TYPES: tuple[AudioSessionType, ...] = (
    AMBIENT,
    TRANSIENT,
    PLAYBACK,
    TRANSIENT_SOLO,
    PLAY_AND_RECORD,
)
"""The five types a session can have once computed (never ``auto``), in the table's order."""


class Effect(str, Enum):
    """What one cell of the table does when a session becomes active next to another one."""

    MIX = "mix"
    """Nothing: both play."""
    DUCK = "duck"
    """The existing session stays active at ``duck_gain`` while the new one is active."""
    PAUSE = "pause"
    """The existing session is ``interrupted`` and resumed when the new one ends."""
    STOP = "stop"
    """The existing session is faded out and made ``inactive`` for good."""
    DELAY = "delay"
    """The *new* session is held ``interrupted`` until the existing one ends."""
    DENY = "deny"
    """The *new* session is refused outright (stays ``inactive``); only by configuration."""

    def __str__(self) -> str:
        return self.value


# (new, existing): effect on the existing one — `delay` / `deny` act on the new one instead.
DEFAULT_TABLE: Mapping[tuple[AudioSessionType, AudioSessionType], Effect] = MappingProxyType(
    {
        # new: ambient
        (AMBIENT, AMBIENT): Effect.MIX,
        (AMBIENT, TRANSIENT): Effect.MIX,
        (AMBIENT, PLAYBACK): Effect.MIX,
        (AMBIENT, TRANSIENT_SOLO): Effect.DELAY,
        (AMBIENT, PLAY_AND_RECORD): Effect.MIX,
        # new: transient
        (TRANSIENT, AMBIENT): Effect.DUCK,
        (TRANSIENT, TRANSIENT): Effect.MIX,
        (TRANSIENT, PLAYBACK): Effect.DUCK,
        (TRANSIENT, TRANSIENT_SOLO): Effect.DELAY,
        (TRANSIENT, PLAY_AND_RECORD): Effect.MIX,
        # new: playback
        (PLAYBACK, AMBIENT): Effect.MIX,
        (PLAYBACK, TRANSIENT): Effect.MIX,
        (PLAYBACK, PLAYBACK): Effect.STOP,
        (PLAYBACK, TRANSIENT_SOLO): Effect.DELAY,
        (PLAYBACK, PLAY_AND_RECORD): Effect.DELAY,
        # new: transient-solo
        (TRANSIENT_SOLO, AMBIENT): Effect.PAUSE,
        (TRANSIENT_SOLO, TRANSIENT): Effect.PAUSE,
        (TRANSIENT_SOLO, PLAYBACK): Effect.PAUSE,
        (TRANSIENT_SOLO, TRANSIENT_SOLO): Effect.STOP,
        (TRANSIENT_SOLO, PLAY_AND_RECORD): Effect.DELAY,
        # new: play-and-record
        (PLAY_AND_RECORD, AMBIENT): Effect.DUCK,
        (PLAY_AND_RECORD, TRANSIENT): Effect.DUCK,
        (PLAY_AND_RECORD, PLAYBACK): Effect.PAUSE,
        (PLAY_AND_RECORD, TRANSIENT_SOLO): Effect.PAUSE,
        (PLAY_AND_RECORD, PLAY_AND_RECORD): Effect.PAUSE,
    }
)
"""docs/design.md, *Platform policy*: keyed ``(new, existing)``; the value is the effect on
the existing session (``DELAY`` holds the new one instead)."""

DEFAULT_ROLES: Mapping[AudioSessionType, str] = MappingProxyType(
    {
        PLAYBACK: "music",
        TRANSIENT: "event",
        TRANSIENT_SOLO: "a11y",
        AMBIENT: "animation",
        PLAY_AND_RECORD: "phone",
    }
)
"""The PulseAudio / PipeWire ``media.role`` each session type's streams carry."""

ROLE_TYPES: Mapping[str, AudioSessionType] = MappingProxyType(
    {
        "music": PLAYBACK,
        "video": PLAYBACK,
        "event": TRANSIENT,
        "phone": PLAY_AND_RECORD,
        "a11y": TRANSIENT_SOLO,
    }
)
"""The session type of audio by the ``media.role`` it plays with; any other role, or none:
ambient."""


MEDIA_ROLES = (
    "video",
    "music",
    "game",
    "event",
    "phone",
    "animation",
    "production",
    "a11y",
    "test",
)
"""The ``media.role`` values PulseAudio and PipeWire know."""


def type_for_role(role: str | None) -> AudioSessionType:
    """The session type of audio that plays with ``media.role`` ``role`` (None: no role)."""
    return ROLE_TYPES.get(role or "", AMBIENT)
