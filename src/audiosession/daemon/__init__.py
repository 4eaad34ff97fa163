"""The system daemon: one policy for every audiosession process of the user (docs/design.md,
*What it is*, system mode).

``audiosession daemon`` (or ``python -m audiosession.daemon``) runs ``serve()``; clients find it
through ``platforms.select`` and talk to it with ``platforms.client``. The wire format is
``wire.protocol`` (docs/protocol.md).
"""

from __future__ import annotations

from audiosession.daemon.server import Daemon, DaemonStartError, DaemonThread, serve

__all__ = ["Daemon", "DaemonStartError", "DaemonThread", "main", "serve"]


def main(argv: list[str] | None = None) -> int:
    """``python -m audiosession.daemon [--socket PATH] [--config FILE] [-v]``: run the daemon
    in the foreground, logging to stderr; returns the exit status."""
    from audiosession.daemon.__main__ import main as run_main

    return run_main(argv)
