"""The embedded platform: this process's sessions under the policy, decided in this process.

``EmbeddedPlatform`` is a ``PolicyPlatform`` that runs the ``Arbiter`` itself: each decision is
a call on it, for the sessions of this process's windows only (docs/design.md, *Embedded or
daemon*).
"""

from __future__ import annotations

from typing import Any

from audiosession.loop import TaskLoop
from audiosession.platforms.base import SessionInfo
from audiosession.platforms.policy_platform import PolicyPlatform
from audiosession.policy import Action, Arbiter

__all__ = ["EmbeddedPlatform"]


class EmbeddedPlatform(PolicyPlatform):
    """The sessions of this process's windows, under the policy (docs/design.md, *Platform
    policy*), decided here."""

    name = "embedded"

    def __init__(self, loop: TaskLoop, **options: Any) -> None:
        super().__init__(loop, **options)
        self.arbiter = Arbiter(self.config)

    def _decide(self, operation: str, *args: Any) -> list[Action]:
        return getattr(self.arbiter, operation)(*args)  # type: ignore[no-any-return]

    def sessions(self) -> list[SessionInfo]:
        return self._session_rows(self.arbiter)
