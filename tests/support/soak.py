"""What the soak tests' programs count between rounds, and what the tests hold those counts to.
A soak's program imports this module (``importing_support()`` puts it on the program's path)."""

from __future__ import annotations

import collections
import gc
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from support.pulse_server import PulseServer


def importing_support(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` for a program that imports ``support``: with the tests' folder on its path."""
    tests = str(Path(__file__).parents[1])
    path = os.pathsep.join(p for p in (tests, env.get("PYTHONPATH")) if p)
    return {**env, "PYTHONPATH": path}


def usage(pid: int) -> dict[str, int]:
    """Process ``pid``'s open file descriptors, threads and resident memory (bytes)."""
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return {
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "threads": len(os.listdir(f"/proc/{pid}/task")),
        "rss": int(status["VmRSS"].split()[0]) * 1024,
    }


def server_usage(server: PulseServer) -> dict[str, int]:
    """How many clients and sink-inputs the sound server has."""
    return {
        "clients": len(server.pactl("list", "short", "clients").splitlines()),
        "sink_inputs": len(server.sink_inputs()),
    }


def object_counts() -> collections.Counter[str]:
    """How many Python objects of each class (by name) are alive after a collection."""
    gc.collect()
    return collections.Counter(type(o).__name__ for o in gc.get_objects())


def wait_until_none_left(kind: str, seconds: float) -> None:
    """Collect until no object of class ``kind`` is alive, for up to ``seconds``: the last ones
    go once the package's own threads are done with them (their timers run meanwhile)."""
    deadline = time.monotonic() + seconds
    while object_counts()[kind] and time.monotonic() < deadline:
        time.sleep(0.02)


def objects_grown(
    before: Mapping[str, int],
    after: Mapping[str, int],
    *,
    share: float,
    expected: Mapping[str, int] | None = None,
) -> dict[str, int]:
    """The kinds of object (name -> how many more) of which ``after`` counts more than
    ``before`` plus ``expected`` more of some kinds, by over 10 and over ``share`` of that."""
    grown = {}
    for name, count in after.items():
        allowed = before.get(name, 0) + (expected or {}).get(name, 0)
        if count > allowed + max(10, int(allowed * share)):
            grown[name] = count - allowed
    return grown
