"""A sink that writes, in real time, what the default output receives to a WAV file."""

from __future__ import annotations

import os
import threading

import numpy as np
import soundfile as sf

from ..backend import DeviceInfo
from .null import RealtimeBackend


class WavBackend(RealtimeBackend):
    """Real-time paced like ``NullBackend``; the mixed output is written to ``path``.

    The file is opened with the first stream (its rate and channels) and finished by
    ``close()``. It holds the audio from the first stream until ``close``, silences included.
    """

    name = "wav"

    def __init__(self, path: str | os.PathLike[str], *, subtype: str = "FLOAT") -> None:
        super().__init__()
        self.path = os.fspath(path)
        self.subtype = subtype
        self.output_device = DeviceInfo(
            "wav", f"WAV file {os.path.basename(self.path)}", "audiooutput", frozenset(), True
        )
        self._file: sf.SoundFile | None = None
        self._file_lock = threading.Lock()
        directory = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"cannot write {self.path!r}: no directory {directory!r}")

    def _consume(self, block: np.ndarray) -> None:
        with self._file_lock:
            if self._file is None:
                assert self._format is not None
                rate, channels, _ = self._format
                self._file = sf.SoundFile(
                    self.path, "w", rate, channels, self.subtype, format="WAV"
                )
            self._file.write(block)

    def _finish(self) -> None:
        pass

    def close(self) -> None:
        """Stop the clock and finish the file (its header then holds the right length)."""
        super().close()
        with self._file_lock:
            if self._file is not None:
                self._file.close()
                self._file = None
