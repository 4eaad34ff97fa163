"""Which runtime is current: per thread, so a VirtualEnvironment is only the entering thread's."""

from __future__ import annotations

import threading

from audiosession.session.runtime import current_runtime, process_runtime
from audiosession.testing import VirtualEnvironment


def test_a_thread_started_outside_an_environment_does_not_act_inside_it():
    entered, looked = threading.Event(), threading.Event()
    seen = []

    def other_thread():
        assert entered.wait(5)
        seen.append(current_runtime())
        looked.set()

    thread = threading.Thread(target=other_thread)
    thread.start()
    with VirtualEnvironment() as env:
        entered.set()
        assert looked.wait(5)
        assert current_runtime() is env.runtime
    thread.join(5)
    assert seen == [process_runtime()]
    assert seen[0] is not env.runtime


def test_environments_nest_in_one_thread_and_unwind_in_order():
    with VirtualEnvironment() as outer:
        assert current_runtime() is outer.runtime
        with VirtualEnvironment() as inner:
            assert current_runtime() is inner.runtime
        assert current_runtime() is outer.runtime
    assert current_runtime() is process_runtime()
