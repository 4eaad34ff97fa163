"""A simulated room in virtual time: an input hears an output through an impulse response
(loudspeaker to microphone), added to its own signal; what an echo canceller is tested on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .virtual import VirtualBackend


@dataclass(frozen=True)
class SimulatedRoom:
    """``input`` hears ``output`` convolved with ``impulse_response`` (mono, at the
    backend's rate), on top of the input's own signal."""

    output: str
    input: str
    impulse_response: np.ndarray


class RoomBackend(VirtualBackend):
    """A ``VirtualBackend`` whose ``room.input`` hears ``room.output``."""

    def __init__(self, *args: Any, room: SimulatedRoom, **kwargs: Any) -> None:
        self.room = room
        self._response = np.asarray(room.impulse_response, np.float64).ravel()
        self._heard_now: np.ndarray | None = None
        self._history = np.zeros(len(self._response))
        chained = kwargs.pop("on_block", None)

        def on_block(device_id: str, block: np.ndarray) -> None:
            if device_id == room.output:
                self._heard_now = block.mean(axis=1)
            if chained is not None:
                chained(device_id, block)

        super().__init__(*args, on_block=on_block, **kwargs)

    def render_block(self) -> None:
        self._heard_now = None
        super().render_block()

    def _next_input_block(self, device_id: str, frames: int) -> np.ndarray:
        block = super()._next_input_block(device_id, frames)
        if device_id != self.room.input:
            return block
        heard = self._heard_now if self._heard_now is not None else np.zeros(frames)
        keep = len(self._response) + frames
        self._history = np.concatenate([self._history, heard])[-keep:]
        size = 1 << int(np.ceil(np.log2(len(self._history) + len(self._response))))
        echo = np.fft.irfft(np.fft.rfft(self._history, size) * np.fft.rfft(self._response, size))
        end = len(self._history)  # the last frames of the convolution: this block's echo
        return (block + echo[end - frames : end, None]).astype(np.float32)
