"""The ``audiosession`` command: the demo, a session-aware player, devices and status.

Built on the public API only, so each command doubles as an example (docs/cli.md). Errors a
user can fix print one line on stderr and exit with status 2; Ctrl-C stops cleanly with 130.

This module imports nothing itself: a notification must sound as soon as the process can
ask for it, so ``notify`` is tried the short way (``cli/notify_fast.py``) before the parser
and the engine load (``cli/arguments.py``).
"""

from __future__ import annotations

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (slow to import)
if TYPE_CHECKING:
    from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``audiosession`` command; returns its exit status."""
    import sys

    raw = list(sys.argv[1:] if argv is None else argv)
    if raw[:1] == ["notify"]:
        from audiosession.cli import notify_fast

        status = notify_fast.notify(raw)
        if status is not None:
            return status
    from audiosession.cli.arguments import run

    return run(raw)
