"""``AudioWorkletNode``: a node of an ``AudioContext`` whose audio a Python ``process`` computes,
off the audio thread and ahead of time.

After the web's ``AudioWorkletNode``, for a game's or a synthesizer's computed sound:

    class Sine:
        def __init__(self) -> None:
            self.phase = 0
        def process(self, outputs, frames):          # outputs: (frames, 1) float32, zeroed
            t = (self.phase + np.arange(frames)) / 48000
            outputs[:, 0] = 0.2 * np.sin(2 * np.pi * 440 * t)
            self.phase += frames
            return True                              # False: the node's sound ends here

    node = AudioWorkletNode(context, Sine())
    node.connect(context.destination)

The web's shape works too: ``process(inputs, outputs, parameters)`` is called with ``inputs``
empty (the node has no inputs), ``outputs`` as ``[[channel]]`` (one output of one channel, a
float32 array to fill) and ``parameters`` empty. The processor may be an object with a
``process`` method, a class (made with no arguments) or a plain function.

``process`` runs on the engine's worker threads (``engine/ahead.py``), never on the audio
thread: it is called for a few thousand frames at a time (``len(outputs)``; the web calls it
for 128), up to ``AHEAD_SECONDS`` before they are heard, so a change the program makes to the
processor is heard that much later. What it computes waits in the node's ring, and the graph,
rendered on the audio thread, only takes what is ready. So a ``process`` that is too slow makes
its own node run dry (silence there, counted in ``underruns``; after ``STUCK_SECONDS`` it gets
a thread of its own) and never holds back the other nodes or voices; one that raises (or gives
NaN or infinity) makes its node silent for good and fires ``processorerror`` at it.

The context's graph is mono, so the node has one output channel. It has no inputs: processing
another node's audio would put the program's Python back in step with the audio thread.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from audiosession.elements.context import AudioContext, AudioNode
from audiosession.events import Event, EventHandler, EventTarget
from audiosession.session.runtime import Runtime

if TYPE_CHECKING:
    from audiosession.engine.ahead import AheadBuffer

log = logging.getLogger(__name__)


class ErrorEvent(Event):
    """The DOM's ``ErrorEvent``: ``message`` and the ``error`` raised (``processorerror``)."""

    def __init__(self, type: str, *, message: str, error: BaseException | None = None) -> None:
        super().__init__(type)
        self.message = message
        self.error = error


class AudioWorkletNode(AudioNode, EventTarget):
    """A node whose audio ``processor.process`` computes ahead of time (module docstring)."""

    number_of_inputs = 0
    number_of_outputs = 1
    channel_count = 1

    onprocessorerror = EventHandler["AudioWorkletNode"]("processorerror")

    def __init__(self, context: AudioContext, processor: Any) -> None:
        if not isinstance(context, AudioContext):
            raise TypeError(f"an AudioWorkletNode belongs to an AudioContext, not {context!r}")
        context._check_open()
        if isinstance(processor, type):
            processor = processor()
        process = processor if inspect.isroutine(processor) else getattr(processor, "process", None)
        if not callable(process):
            raise TypeError(
                f"a processor is an object with a process method, a class or a function, "
                f"not {processor!r}"
            )
        AudioNode.__init__(self, context)
        EventTarget.__init__(self)
        self.processor = processor
        self._call = _caller(process)
        self._block = np.zeros((0, 1), dtype=np.float32)
        self._end = self._block[:0]
        self._finished = False  # process returned False, raised, or gave NaN
        audio = context.audio_session.platform.audio
        self._ahead: AheadBuffer = audio.ahead(
            self._produce, name=f"worklet {type(processor).__name__}", channels=1
        )
        context._on_close.append(self._ahead.close)
        self._ahead.prime()

    def _event_runtime(self) -> Runtime:
        return self.context.window.runtime

    def __repr__(self) -> str:
        return f"<AudioWorkletNode {self.processor!r}>"

    @property
    def underruns(self) -> int:
        """Blocks the graph rendered while this node had nothing ready (silence there)."""
        return self._ahead.underruns

    numberOfInputs = number_of_inputs  # noqa: N815
    numberOfOutputs = number_of_outputs  # noqa: N815
    channelCount = channel_count  # noqa: N815

    # -- the worker's side --------------------------------------------------------------------

    def _produce(self, frames: int) -> np.ndarray:
        """The ``AheadBuffer``'s producer (a worker thread): ``frames`` frames from ``process``,
        or the end once it returned False, raised or gave samples that are not finite."""
        if self._finished:
            return self._end
        if len(self._block) < frames:
            self._block = np.zeros((frames, 1), dtype=np.float32)
        outputs = self._block[:frames]
        outputs.fill(0.0)
        try:
            going_on = self._call(outputs, frames)
            if not np.isfinite(outputs).all():
                raise ValueError("process() gave samples that are NaN or infinite")
        except Exception as error:
            log.warning("%r failed; it is silent from now on", self, exc_info=True)
            self._finished = True
            self.context._loop.queue_task(self._processor_failed, error)
            return self._end
        if going_on is False:
            self._finished = True
        return outputs

    def _processor_failed(self, error: BaseException) -> None:
        if self.context.state != "closed":
            self._fire(
                "processorerror",
                ErrorEvent(
                    "processorerror", message=f"{type(error).__name__}: {error}", error=error
                ),
            )

    # -- the audio thread's side --------------------------------------------------------------

    def _process(self, start: int, frames: int, mixed: np.ndarray) -> np.ndarray:
        block = self._ahead.read_view(frames)
        out = np.zeros(frames)
        out[: len(block)] = block[:, 0]
        return out


def _caller(process: Callable[..., Any]) -> Callable[[np.ndarray, int], Any]:
    """``process`` called as ``(outputs, frames)``, whichever of the two shapes it takes."""
    try:
        parameters = [
            p
            for p in inspect.signature(process).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        parameters = []
    if len(parameters) == 2:
        return process
    if len(parameters) == 3:

        def web_shape(outputs: np.ndarray, frames: int) -> Any:
            return process([], [[outputs[:, 0]]], {})

        return web_shape
    raise TypeError(
        f"process must take (outputs, frames) or the web's (inputs, outputs, parameters); "
        f"{process!r} takes {len(parameters)} arguments"
    )
