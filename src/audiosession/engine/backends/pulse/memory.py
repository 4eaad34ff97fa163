"""What module-stream-restore remembers of the streams we change (``foreign``): kept the
user's."""

from __future__ import annotations

import logging
from typing import Any

from .foreign import VOLUME_NORM, ForeignStream

log = logging.getLogger(__name__)

__all__ = ["StreamMemory"]


class StreamMemory:
    """PulseAudio's ``module-stream-restore`` (loaded by every stock ``default.pa``) saves a
    stream's volume and mute whenever a client changes them — our ducks and mutes
    too — under a name shared by similar streams (``sink-input-by-media-role:music``), and
    gives the next such stream what it saved. So that the user's volume is what it
    remembers, we keep each entry as it was before we first changed a stream of that
    name, write it back (through the module's protocol extension) after each change the
    module may have saved, take in what the user changes meanwhile, and let go once none of
    those streams is changed any more. Where the entry cannot be read (PipeWire's
    ``pipewire-pulse`` takes writes but lists nothing: WirePlumber keeps its own memory), the
    entry written is the stream's own volume and mute as the user left them. Worker thread
    only; a no-op where the extension is missing."""

    def __init__(self, pulse: Any, pulsectl: Any, who: str) -> None:
        self._pulse = pulse
        self._who = who
        self._pulsectl = pulsectl
        try:
            self.available = pulse.stream_restore_test() is not None
        except pulsectl.PulseError:
            self.available = False
        self.kept: dict[str, Any] = {}  # entry name -> the user's entry (None: not listed)

    def keep(self, name: str | None) -> None:
        """Before we first change a stream called ``name``: remember its entry."""
        if self.available and name is not None and name not in self.kept:
            entry = self._read(name)
            if self.available:
                self.kept[name] = entry

    def take_user_change(self, name: str, stream: ForeignStream) -> None:
        """The user changed ``stream`` (the module saved it): that entry is the user's now,
        but for what we still do to ``stream`` (its duck, its mute)."""
        entry = self._read(name)
        if not self.available:
            return
        if entry is not None and stream.original is not None:
            entry.volume = self._pulsectl.PulseVolumeInfo(
                [v / VOLUME_NORM for v in stream.original]
            )
            entry.channel_list = stream.channels
        if entry is not None and stream.we_muted:
            entry.mute = False
        self.kept[name] = entry

    def put_back(self, name: str, stream: ForeignStream, still_changed: bool) -> None:
        """Write the kept entry ``name`` back (else ``stream``'s as the user left it); forget
        it unless ``still_changed``."""
        if name not in self.kept:
            return
        entry = self.kept[name] if still_changed else self.kept.pop(name)
        if entry is None:
            user_volume = stream.original or stream.volume or []
            entry = self._pulsectl.PulseExtStreamRestoreInfo(
                name,
                volume=self._pulsectl.PulseVolumeInfo([v / VOLUME_NORM for v in user_volume]),
                channel_list=stream.channels,
                mute=stream.muted and not stream.we_muted,
            )
        try:
            self._pulse.stream_restore_write(entry, mode="replace", apply_immediately=False)
        except self._pulsectl.PulseOperationFailed as error:
            self._give_up(error)

    def _read(self, name: str) -> Any:
        try:
            entries = self._pulse.stream_restore_list()
        except self._pulsectl.PulseOperationFailed as error:
            self._give_up(error)
            return None
        return next((e for e in entries if e.name == name), None)

    def _give_up(self, error: Exception) -> None:
        """The extension fails: one line, then its memory is left alone."""
        log.warning(
            "%s: module-stream-restore's extension failed (%s); "
            "leaving what it remembers alone from now on",
            self._who,
            error,
        )
        self.available = False
        self.kept.clear()
