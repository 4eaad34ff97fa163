"""The ``audiosession`` command's arguments: the parser of every command, and the way from
the parsed arguments to the command (``run``). ``cli/__init__.py`` comes here for everything
but a ``notify`` that ``cli/notify_fast.py`` can play the short way.
"""

from __future__ import annotations

import argparse
import sys

import audiosession
from audiosession.types import AudioSessionType

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (slow to import)
if TYPE_CHECKING:
    from typing import NoReturn

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

TYPES = tuple(t.value for t in AudioSessionType)


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _volume(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"volume must be a number from 0 to 1, not {text!r}"
        ) from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"volume must be from 0 to 1, not {text}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"seconds must be a number above 0, not {text!r}")
    return value


def _command(
    subparsers: argparse._SubParsersAction[Parser], name: str, summary: str, example: str
) -> Parser:
    parser: Parser = subparsers.add_parser(
        name,
        help=summary,
        description=summary,
        epilog=f"example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def _player_options(parser: Parser) -> None:
    parser.add_argument(
        "--volume",
        type=_volume,
        default=1.0,
        metavar="V",
        help="element volume, 0 to 1 (default 1)",
    )
    parser.add_argument(
        "--device",
        metavar="ID",
        help="output device id (see `audiosession devices`; default: the session's route)",
    )


def build_parser() -> Parser:
    from pathlib import Path

    from audiosession.daemon.__main__ import build_parser as daemon_options

    parser = Parser(
        prog="audiosession",
        description="The W3C Audio Session API with a real audio engine: play audio as a "
        "session of a given type and watch the platform policy duck, pause, "
        "delay and route it.",
        epilog="example:\n  audiosession demo --virtual --out /tmp/demo\n\n"
        "docs/cli.md describes every command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"audiosession {audiosession.__version__}"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log what the library does (to stderr)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = _command(
        subparsers,
        "demo",
        "play five programs on one policy (music, ducked by a notification and "
        "paused by a voice prompt and a call; a second player, delayed until the "
        "call ends) and write demo.wav and demo.png",
        "audiosession demo --virtual --out /tmp/demo",
    )
    demo.add_argument(
        "--virtual",
        action="store_true",
        help="render in virtual time (a second or two) instead of real time",
    )
    demo.add_argument(
        "--out",
        type=Path,
        default=Path("."),
        metavar="DIR",
        help="where demo.wav and demo.png go (default: the current directory)",
    )
    demo.add_argument("--force", action="store_true", help="overwrite an earlier demo's files")

    play = _command(
        subparsers,
        "play",
        "play audio files as one session that obeys the policy (pauses when "
        "interrupted, resumes when allowed)",
        "audiosession play song.flac --type playback --volume 0.5",
    )
    play.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="audio files (WAV, FLAC, Ogg, MP3) or http(s):, file:, data: URLs, played one "
        "after the other",
    )
    play.add_argument(
        "--type", choices=TYPES, default="playback", help="the session's type (default playback)"
    )
    play.add_argument("--loop", action="store_true", help="start again after the last file")
    _player_options(play)

    for name, type_, summary, example in (
        (
            "notify",
            "transient",
            "play a notification sound (transient: ducks music)",
            "audiosession notify ping.wav",
        ),
        (
            "prompt",
            "transient-solo",
            "play a voice prompt (transient-solo: pauses other audio until it ends)",
            "audiosession prompt announcement.wav",
        ),
        (
            "ambient",
            "ambient",
            "play background audio (ambient: mixes with everything)",
            "audiosession ambient rain.ogg --volume 0.3",
        ),
    ):
        sub = _command(subparsers, name, summary, example)
        sub.add_argument("files", nargs=1, metavar="FILE", help="the audio file (or URL) to play")
        sub.add_argument("--loop", action="store_true", help="repeat until Ctrl-C")
        sub.set_defaults(type=type_)
        _player_options(sub)

    call = _command(
        subparsers,
        "call",
        "a call (play-and-record): play the far end, capture the microphone and "
        "print its input level",
        "audiosession call --remote caller.wav --seconds 30",
    )
    call.add_argument(
        "--mic",
        metavar="ID",
        help="input device id (default: the default "
        "input; AUDIOSESSION_FAKE_MIC=file.wav replaces the microphone)",
    )
    call.add_argument(
        "--remote", metavar="FILE", help="audio file standing in for the far end (looped)"
    )
    call.add_argument(
        "--seconds", type=_seconds, metavar="N", help="hang up after N seconds (default: at Ctrl-C)"
    )
    call.add_argument(
        "--no-processing",
        action="store_true",
        help="capture the microphone raw: no echo cancellation, noise suppression or gain "
        "control (on by default, as in a browser)",
    )

    devices = _command(
        subparsers,
        "devices",
        "list output and input devices, the default and the communications device",
        "audiosession devices --json",
    )
    devices.add_argument("--json", action="store_true", help="print them as one JSON object")

    daemon = _command(
        subparsers,
        "daemon",
        "run the system daemon in the foreground: one policy for every "
        "audiosession program of this user",
        "audiosession daemon --config ~/.config/audiosession/audiosession.toml",
    )
    daemon_options(daemon)

    status = _command(
        subparsers,
        "status",
        "the sessions, states, gains, causes and routes the platform reports",
        "audiosession status --watch",
    )
    status.add_argument("--watch", action="store_true", help="refresh until Ctrl-C")
    status.add_argument(
        "--json",
        action="store_true",
        help="print them as one JSON object (with --watch: one line per refresh)",
    )
    return parser


def run(raw: list[str]) -> int:
    """Run the ``audiosession`` command with the arguments ``raw``; returns its exit status."""
    import logging

    args = build_parser().parse_args(raw)
    if args.command == "daemon":  # it parses its own options and sets up its own logging
        from audiosession.daemon import main as daemon_main

        return daemon_main(raw[raw.index("daemon") + 1 :])
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.ERROR,
        format="audiosession: %(levelname)s: %(name)s: %(message)s",
    )
    from audiosession.cli.common import CommandError, open_platform
    from audiosession.errors import MissingDependencyError

    try:
        if args.command == "status":
            open_platform(audio=False)
        elif not (args.command == "demo" and args.virtual):
            open_platform(audio=True)
        return _dispatch(args)
    except (CommandError, MissingDependencyError) as error:
        print(f"audiosession {args.command}: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # Ctrl-C outside run(): the same clean stop
        print(f"\naudiosession {args.command}: stopped (Ctrl-C)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from audiosession.cli.common import Printer
        from audiosession.cli.demo import demo

        printer = Printer()
        try:
            return demo(args.out, virtual=args.virtual, force=args.force, printer=printer)
        finally:
            printer.stop_live()
    from audiosession.cli import commands as commands_module

    if args.command in ("play", "notify", "prompt", "ambient"):
        return commands_module.play(
            args.files, type_=args.type, volume=args.volume, loop=args.loop, device=args.device
        )
    if args.command == "call":
        return commands_module.call(
            mic=args.mic,
            remote=args.remote,
            seconds=args.seconds,
            processing=not args.no_processing,
        )
    if args.command == "devices":
        return commands_module.devices(as_json=args.json)
    if args.command == "status":
        return commands_module.status(watch=args.watch, as_json=args.json)
    raise AssertionError(args.command)  # pragma: no cover - argparse checked it
