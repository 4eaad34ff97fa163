"""The dispatcher thread of the real clock (``ThreadedLoop``): started by the first task, from
any thread, and closed from another."""

from __future__ import annotations

import threading

from audiosession.loop import ThreadedLoop

TRIES = 300


def test_closing_while_another_thread_starts_the_dispatcher_does_not_fail() -> None:
    """A sound server's thread queues the first task just as the program closes its runtime:
    ``close()`` used to find the new thread made but not yet started, and raised
    ``RuntimeError: cannot join thread before it is started`` (half the tries here)."""
    for _ in range(TRIES):
        loop = ThreadedLoop(name="test-dispatcher")
        queuer = threading.Thread(target=loop.queue_task, args=(lambda: None,))
        queuer.start()
        loop.close()
        queuer.join()
        assert loop._thread is None or not loop._thread.is_alive()


def test_a_task_queued_after_close_starts_no_dispatcher() -> None:
    loop = ThreadedLoop(name="test-dispatcher")
    loop.close()
    ran = []
    loop.queue_task(ran.append, 1)
    assert loop._thread is None
    assert ran == []
