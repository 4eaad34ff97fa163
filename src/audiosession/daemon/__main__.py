"""``python -m audiosession.daemon``: run the system daemon in the foreground."""

from __future__ import annotations

import argparse
import logging
import sys

from audiosession.daemon.server import DaemonStartError, serve
from audiosession.policy import ConfigError, find_config, load_config
from audiosession.wire.endpoint import default_socket_path


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The daemon's options (the CLI's ``audiosession daemon`` may reuse them)."""
    parser = parser or argparse.ArgumentParser(
        prog="python -m audiosession.daemon",
        description="Arbitrate the audio sessions of every audiosession program of this user.",
    )
    parser.add_argument(
        "--socket",
        metavar="PATH",
        default=None,
        help=f"Unix socket to listen on (default: {default_socket_path()})",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=None,
        help="policy file (default: $AUDIOSESSION_CONFIG, else "
        "~/.config/audiosession/audiosession.toml, else the defaults)",
    )
    parser.add_argument(
        "--no-pulse-bridge",
        action="store_true",
        help="do not bridge the streams of other programs on the PulseAudio / "
        "PipeWire server into the policy (docs/bridge.md)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, set up logging to stderr and serve until SIGTERM / SIGINT."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s.%(msecs)03d %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    try:
        # Strict: the daemon decides for every program; it does not run a policy other than
        # the one configured because that one cannot be read.
        config = load_config(args.config) if args.config else find_config(strict=True)
    except ConfigError as error:
        print(f"audiosession daemon: {error}", file=sys.stderr)
        return 2
    try:
        serve(args.socket, config=config, pulse_bridge=not args.no_pulse_bridge)
    except DaemonStartError as error:
        print(f"audiosession daemon: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
