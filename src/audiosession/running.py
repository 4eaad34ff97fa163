"""``run()`` and ``stop()``: keep a plain script's page alive while its audio plays.

    navigator.audio_session.type = "playback"
    track = Audio("track.mp3")
    track.play()
    audiosession.run(until=track)     # returns when the track ends (or Ctrl-C, or stop())

asyncio programs need none of this. Inside a ``VirtualEnvironment`` ``run()`` moves the virtual
clock instead of waiting, so the same script renders faster than real time.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import logging
import threading
from collections.abc import Callable
from typing import Any, Literal, Union

from audiosession.elements.context import AudioContext
from audiosession.elements.media import MediaElement
from audiosession.loop import TaskLoop, ThreadedLoop
from audiosession.session.runtime import Runtime, VirtualClock, current_runtime

log = logging.getLogger(__name__)

RunUntil = Union[MediaElement, AudioContext, "concurrent.futures.Future[Any]", float, None]
"""What ``run(until=...)`` waits for: an element's end, a context's closing, a future (a
``Playback`` or any ``Promise``), a number of seconds, or nothing (for ever)."""
RunOutcome = Literal["done", "stopped", "timeout", "interrupted"]

_stop_requested = threading.Event()
_waiting_loop: TaskLoop | None = None  # the loop the run() in progress waits on
VIRTUAL_RUN_LIMIT = 24 * 3600.0


def stop() -> None:
    """Make the ``run()`` in progress return (from any thread, a listener included)."""
    _stop_requested.set()
    loop = _waiting_loop
    if loop is not None:
        loop.queue_task(_nothing)  # run() looks again once a task has run


def _nothing() -> None:
    pass


def run(until: RunUntil = None, *, timeout: float | None = None) -> RunOutcome:
    """Serve events until ``until`` is done: an element (its end or error), an AudioContext
    (closed), a future (settled), a number of seconds, or None (for ever); or until Ctrl-C,
    ``stop()`` or ``timeout`` seconds. Returns why it stopped: ``"done"``, ``"stopped"``,
    ``"timeout"`` or ``"interrupted"`` (Ctrl-C: everything the process held is released)."""
    global _waiting_loop
    runtime = current_runtime()
    _stop_requested.clear()
    done, done_at = _done_condition(until, runtime)
    if runtime.virtual_clock is not None:  # move the virtual clock instead of waiting
        return _run_virtually(runtime, runtime.virtual_clock, done, timeout)
    # Whatever ``done`` looks at changes with an event (an element's end or error, a context's
    # closing), which is a task: run() sleeps until tasks have run, or a time it waits for.
    loop = runtime.loop
    deadline = None if timeout is None else loop.now() + timeout
    wake_at = min((t for t in (done_at, deadline) if t is not None), default=None)
    if isinstance(until, concurrent.futures.Future):
        until.add_done_callback(lambda _: loop.queue_task(_nothing))
    _waiting_loop = loop
    try:
        while True:
            seen = loop.batches_run
            if done():
                return "done"
            if _stop_requested.is_set():
                return "stopped"
            if deadline is not None and loop.now() >= deadline:
                return "timeout"
            loop.wait_for_progress(seen, None if wake_at is None else wake_at - loop.now())
    except KeyboardInterrupt:
        log.info("interrupted: releasing every session of this process")
        runtime.close()
        return "interrupted"
    finally:
        _waiting_loop = None


def _done_condition(until: RunUntil, runtime: Runtime) -> tuple[Callable[[], bool], float | None]:
    """Whether ``until`` is done, and the loop time at which it will be (a number of
    seconds), else None."""
    if until is None:
        return (lambda: False), None
    if isinstance(until, MediaElement):
        return (lambda: until.ended or until.error is not None or until._released), None
    if isinstance(until, AudioContext):
        return (lambda: until.state == "closed"), None
    if isinstance(until, concurrent.futures.Future):
        return until.done, None
    if isinstance(until, (int, float)) and not isinstance(until, bool):
        if until < 0:
            raise ValueError(f"run(until=...) seconds must be >= 0, not {until!r}")
        end = runtime.loop.now() + until
        return (lambda: runtime.loop.now() >= end), end
    raise TypeError(
        "run(until=...) takes an element, an AudioContext, a future, a number of seconds or "
        f"None, not {until!r}"
    )


def _run_virtually(
    runtime: Runtime, clock: VirtualClock, done: Callable[[], bool], timeout: float | None
) -> RunOutcome:
    limit = runtime.loop.now() + (VIRTUAL_RUN_LIMIT if timeout is None else timeout)
    while runtime.loop.now() < limit:
        if done():
            return "done"
        if _stop_requested.is_set():
            return "stopped"
        clock.advance(clock.block_duration)
    return "done" if done() else "timeout"


@atexit.register
def _release_at_exit() -> None:
    """Release the process's sessions, then stop its loop: a dispatcher thread still running
    when the interpreter finalizes would keep alive, for ever, whatever its pending tasks and
    timers hold (elements, tracks, their resamplers and decoders)."""
    from audiosession.session import runtime as runtimes

    process = runtimes._process_runtime
    if process is None:
        return
    if not process.closed:
        try:
            process.close()
        except Exception:  # pragma: no cover - the interpreter is going away
            log.exception("releasing the process's sessions at exit failed")
    if isinstance(process.loop, ThreadedLoop):
        process.loop.close()
