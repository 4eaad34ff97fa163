"""The spec's task queue: one loop per process (or virtual environment) that runs tasks in order.

Every event fires from a task on this loop, never on an audio thread and never synchronously
inside a setter (docs/design.md, *Time and threads*). Two loops share one interface:
``ThreadedLoop`` runs tasks on a
dispatcher thread against the real clock; ``ManualLoop`` runs them only when a test asks, against
a clock that moves only when told (``audiosession.testing``).

State that tasks touch is guarded by ``loop.lock``: the loop holds it while a task runs, and
public API calls made from other threads take it, so they see each task's effects whole.

I/O that may block (opening a file or a URL) never runs on the loop or under its lock:
``run_io`` runs it on a thread of its own and queues a task with the result. A manual loop
waits for that I/O before it calls itself idle, so virtual time stays deterministic.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

# The package logs and never prints. Unless the program configures logging, what it logs goes
# nowhere (the logging HOWTO's advice for a library): else Python's last-resort handler would
# print each warning on stderr, beside the error the program already receives. Every runtime
# imports this module before anything of the package can log.
logging.getLogger("audiosession").addHandler(logging.NullHandler())

Task = Callable[..., Any]

IO_WAIT = 10.0
"""Real seconds a manual loop waits for one ``run_io`` work before it calls itself idle without
it (and never waits for that one again): a local file opens in milliseconds; this bounds a
hung one."""


class Timer:
    """A task scheduled for a later time; ``cancel()`` keeps it from running."""

    __slots__ = ("when", "callback", "args", "cancelled")

    def __init__(self, when: float, callback: Task, args: tuple[Any, ...]) -> None:
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class TaskLoop:
    """What both loops offer: queue tasks, schedule timers, tell the time."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._tasks: deque[tuple[Task, tuple[Any, ...]]] = deque()
        self._timers: list[tuple[float, int, Timer]] = []
        self._sequence = itertools.count()
        self._queue_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._io_done = threading.Condition(threading.Lock())
        self._io_started: list[float] = []  # when each run_io work in flight began
        self._progress = threading.Condition(threading.Lock())
        self._batches_run = 0

    def now(self) -> float:
        """Seconds on this loop's clock."""
        raise NotImplementedError

    def queue_task(self, callback: Task, *args: Any) -> None:
        """The spec's "queue a task": run ``callback(*args)`` after the tasks already queued.

        Safe from any thread, the audio thread included: it only appends under a short lock.
        """
        with self._queue_lock:
            self._tasks.append((callback, args))
        self._wake()

    def call_later(self, delay: float, callback: Task, *args: Any) -> Timer:
        """Queue ``callback(*args)`` as a task once ``delay`` seconds have passed."""
        timer = Timer(self.now() + max(0.0, delay), callback, args)
        with self._queue_lock:
            heapq.heappush(self._timers, (timer.when, next(self._sequence), timer))
        self._wake()
        return timer

    def run_io(self, work: Callable[[], Any], then: Task) -> None:
        """Run ``work()`` on a thread of its own (I/O that may block), then queue
        ``then(result)`` as a task. ``work`` must not raise: it returns its failure."""
        started = time.monotonic()
        with self._io_done:
            self._io_started.append(started)

        def run() -> None:
            try:
                result = work()
                self.queue_task(then, result)
            except Exception:
                log.exception("I/O %s failed", getattr(work, "__name__", work))
            finally:
                with self._io_done:
                    self._io_started.remove(started)
                    self._io_done.notify_all()

        threading.Thread(target=run, name="audiosession-io", daemon=True).start()

    def wait_for_io(self, timeout: float = IO_WAIT) -> bool:
        """Wait (in real time) until no ``run_io`` work is in flight, or what is left has run
        for ``timeout`` already (hung: not waited for); True if nothing is left."""
        with self._io_done:
            while self._io_started:
                left = max(self._io_started) + timeout - time.monotonic()
                if left <= 0:
                    return False
                self._io_done.wait(left)
            return True

    @property
    def batches_run(self) -> int:
        """How many times the loop has run what was queued: a state that tasks change can
        have changed only once this moves (``wait_for_progress``)."""
        return self._batches_run

    def wait_for_progress(self, seen: int, timeout: float | None = None) -> None:
        """Wait until tasks have run since ``batches_run`` was ``seen`` (or ``timeout``
        seconds). Not from a task: the loop would wait for itself."""
        with self._progress:
            if self._batches_run == seen:
                self._progress.wait(timeout)

    def _note_progress(self) -> None:
        with self._progress:
            self._batches_run += 1
            self._progress.notify_all()

    def in_loop_thread(self) -> bool:
        """Whether the caller is the thread that runs this loop's tasks."""
        return self._thread is threading.current_thread()

    def _wake(self) -> None:
        pass

    def _pop_task(self) -> tuple[Task, tuple[Any, ...]] | None:
        with self._queue_lock:
            return self._tasks.popleft() if self._tasks else None

    def _move_due_timers(self, now: float) -> None:
        with self._queue_lock:
            while self._timers and self._timers[0][0] <= now:
                _, _, timer = heapq.heappop(self._timers)
                if not timer.cancelled:
                    self._tasks.append((timer.callback, timer.args))

    def _next_timer_time(self) -> float | None:
        with self._queue_lock:
            while self._timers and self._timers[0][2].cancelled:
                heapq.heappop(self._timers)
            return self._timers[0][0] if self._timers else None

    def _run(self, callback: Task, args: tuple[Any, ...]) -> None:
        with self.lock:
            try:
                callback(*args)
            except Exception:
                name = getattr(callback, "__name__", callback)
                log.exception("uncaught exception in task %s", name)


class ManualLoop(TaskLoop):
    """A loop driven by hand against a virtual clock: deterministic, faster than real time."""

    def __init__(self) -> None:
        super().__init__()
        self._now = 0.0
        self._thread = threading.current_thread()
        self._io_hung_reported = 0

    def now(self) -> float:
        return self._now

    def run_until_idle(self) -> int:
        """Run queued tasks (and the tasks they queue) until none is left and no I/O they
        started is in flight (waited for in real time, up to ``IO_WAIT``); return how many
        tasks ran."""
        ran = 0
        while True:
            self._move_due_timers(self._now)
            while (item := self._pop_task()) is not None:
                self._run(*item)
                ran += 1
                self._move_due_timers(self._now)
            if not self._io_started:
                return ran
            finished = self.wait_for_io()
            if not self._tasks:  # nothing came of the wait
                if not finished and len(self._io_started) > self._io_hung_reported:
                    log.warning(
                        "%d I/O operation(s) still running after %g s; virtual time "
                        "goes on without them",
                        len(self._io_started),
                        IO_WAIT,
                    )
                self._io_hung_reported = len(self._io_started)
                return ran

    def advance_to(self, when: float) -> None:
        """Move the clock to ``when``, running every timer that falls due on the way, in order."""
        self.run_until_idle()
        while (next_time := self._next_timer_time()) is not None and next_time <= when:
            self._now = max(self._now, next_time)
            self.run_until_idle()
        self._now = max(self._now, when)
        self.run_until_idle()


class ThreadedLoop(TaskLoop):
    """The process's loop: a dispatcher thread runs tasks in order against the real clock."""

    def __init__(self, name: str = "audiosession-dispatcher") -> None:
        super().__init__()
        self._name = name
        self._wakeup = threading.Condition(self._queue_lock)
        self._closed = False
        self._start_lock = threading.Lock()

    def now(self) -> float:
        return time.monotonic()

    def _wake(self) -> None:
        self._ensure_thread()
        with self._wakeup:
            self._wakeup.notify()

    def _ensure_thread(self) -> None:
        if self._thread is not None or self._closed:
            return
        with self._start_lock:
            if self._thread is None and not self._closed:
                thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
                self._thread = thread
                thread.start()

    def _serve(self) -> None:
        while True:
            with self._wakeup:
                while not self._closed:
                    self._move_due_timers_locked(time.monotonic())
                    if self._tasks:
                        break
                    next_time = self._timers[0][0] if self._timers else None
                    timeout = None if next_time is None else max(0.0, next_time - time.monotonic())
                    self._wakeup.wait(timeout)
                if self._closed:
                    return
            while (item := self._pop_task()) is not None:
                self._run(*item)
            self._note_progress()

    def _move_due_timers_locked(self, now: float) -> None:
        while self._timers and self._timers[0][0] <= now:
            _, _, timer = heapq.heappop(self._timers)
            if not timer.cancelled:
                self._tasks.append((timer.callback, timer.args))

    def run_until_idle(self, timeout: float = 5.0) -> None:
        """Wait until every task queued so far has run (for scripts and tests of real mode)."""
        if self.in_loop_thread():
            raise RuntimeError("run_until_idle() cannot wait for the loop from inside a task")
        done = threading.Event()
        self.queue_task(done.set)
        if not done.wait(timeout):
            raise TimeoutError(f"the audiosession loop did not become idle within {timeout} s")

    def close(self, timeout: float = 2.0) -> None:
        """Stop the dispatcher thread after the task it is running, if any, and wait (up to
        ``timeout`` seconds) for it to end. What is still queued will never run: it is dropped,
        and with it what it holds (the elements and tracks of pending timers)."""
        with self._wakeup:
            self._closed = True
            self._tasks.clear()
            self._timers.clear()
            self._wakeup.notify()
        with self._start_lock:  # a thread that another thread is starting is started first
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
