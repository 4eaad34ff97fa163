"""Benchmark of the daemon's scale: N real client processes, each with one session playing.

    python benchmarks/daemon_scale.py [--clients 50,100,200] [--wave 20] [--trials 5]
                                      [--rounds 2] [--nice 19] [--timeout 30]

The daemon runs as users run it (``audiosession daemon``, in a private XDG_RUNTIME_DIR). Each
client is a short program that uses the public API only: ``navigator.audio_session.type``
set, an ``Audio`` playing a looping file through the null backend (a real-time clock thread),
and a ``statechange`` listener that writes one line, with ``time.monotonic()`` (the same clock
in every process), to a pipe shared by all the clients. Client 0 is ``playback`` and the others
``ambient``: the table mixes ``ambient`` with everything but a ``transient-solo`` session, while
a second ``playback`` would stop the first (``(playback, playback): stop``), so that is the mix
in which all of them are active together. They start ``--wave`` at a time (the next wave
once these play), and run at ``--nice`` 19: a playing client costs about 1.7 % of a core (its
engine renders 100 blocks a second), so 200 of them ask for more than two cores, and nice
keeps what else runs on the machine (and the daemon) ahead of them.

Then a voice prompt, ``transient-solo``, in another client process, plays and is paused
``--trials`` times: the time from its ``play()`` until every client has heard ``interrupted``,
and from its ``pause()`` (which releases the others before it returns) until every client has
heard ``active`` again. The peer, measured in the same run against the same daemon, is the same
prompt and the same N ``ambient`` sessions as N raw protocol connections of this one process
(no client-side Python or event loop between the daemon and the timestamp): the ratio says
what the client processes themselves add. The daemon's CPU time, RSS, threads and file
descriptors come from /proc, before, with the N clients, and after they have all exited (the
records of clients must be released: nothing may stay). A client is lost when it did not
connect, or missed an event, within the timeouts. Every child is killed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audiosession.wire.protocol import encode_message
from daemon import private_env, tone  # benchmarks/daemon.py, beside this script

PHASE_TIMEOUT = 120.0
"""Seconds a wave of clients may take to start (and the daemon to forget them) before the run
gives up on those that have not reported; a prompt's phases have ``--timeout``."""

CLIENT = textwrap.dedent("""
    import json, logging, os, sys, time
    import audiosession
    from audiosession import Audio, navigator

    name, session_type, src, loop = sys.argv[1:5]
    logging.basicConfig(level=logging.INFO, format=f"%(relativeCreated)d {name}: %(message)s")

    def say(event, **fields):
        line = json.dumps({"client": name, "t": time.monotonic(), "event": event, **fields})
        os.write(1, line.encode() + b"\\n")  # one write under PIPE_BUF: lines never mix

    session = navigator.audio_session
    session.type = session_type
    session.add_event_listener("statechange", lambda e: say("state", state=str(session.state)))
    element = Audio(src)
    element.loop = loop == "loop"
    platform = audiosession.platform()
    say("ready", platform=platform.name, connected=getattr(platform, "connected", False))
    if session_type != "transient-solo":
        element.play()
    for line in sys.stdin:  # the prompt's commands; the others wait for end of file
        if line.strip() == "play":
            started = time.monotonic()
            element.play()
            say("play", started=started)
        elif line.strip() == "pause":
            asked = time.monotonic()
            element.pause()
            say("pause", asked=asked)
""")


# -- the daemon, seen from /proc ----------------------------------------------------------------


@dataclass
class ProcFigures:
    cpu: float  # seconds, user + system
    rss: int  # bytes
    threads: int
    fds: int

    @classmethod
    def of(cls, pid: int) -> ProcFigures:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        cpu = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        status = dict(
            line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        )
        rss = int(status["VmRSS"].split()[0]) * 1024
        return cls(cpu, rss, int(status["Threads"]), len(os.listdir(f"/proc/{pid}/fd")))

    def __str__(self) -> str:
        return (
            f"CPU {self.cpu:6.2f} s, RSS {self.rss / 2**20:6.1f} MiB, "
            f"{self.threads} threads, {self.fds} fds"
        )


def start_daemon(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """``audiosession daemon`` in ``env``'s private runtime directory, once it answers."""
    sock_path = Path(env["XDG_RUNTIME_DIR"]) / "audiosession" / "daemon.sock"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "audiosession", "daemon", "--no-pulse-bridge"],
            env=dict(env, AUDIOSESSION_BACKEND="null"),
            stdout=out,
            stderr=out,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            daemon_status(sock_path)
            return proc, sock_path
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"the daemon did not start; see {log}")


def daemon_status(sock_path: Path) -> dict[str, object]:
    """The daemon's ``status`` reply (this connection counts among its clients)."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(str(sock_path))
        sock.sendall(
            encode_message({"op": "hello", "version": 1, "program": "status"})
            + encode_message({"id": 1, "op": "status"})
        )
        buffer = b""
        while True:
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("the daemon closed the status connection")
            buffer += data
            for line in buffer.split(b"\n")[:-1]:
                message = json.loads(line)
                if message.get("id") == 1:
                    return message


def figures_without_clients(
    daemon_pid: int, sock_path: Path, timeout: float = PHASE_TIMEOUT
) -> ProcFigures:
    """The daemon's figures once it serves no client (but the asking connection, which it
    is given a moment to close)."""
    deadline = time.monotonic() + timeout
    while daemon_status(sock_path)["clients"] != 1:
        if time.monotonic() > deadline:
            raise RuntimeError("the daemon still serves clients that have exited")
        time.sleep(0.1)
    time.sleep(0.5)
    return ProcFigures.of(daemon_pid)


# -- the peer: N raw connections of this process --------------------------------------------------


class RawClient:
    """One protocol connection with one session; what it is told, as it comes."""

    def __init__(self, sock_path: Path, name: str, session_type: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(str(sock_path))
        self.buffer = b""
        self.states: list[tuple[float, str]] = []
        self.request({"op": "hello", "version": 1, "program": name})
        self.request({"op": "add", "args": {"session": "s", "context": "w", "owner": name}})
        self.session_type = session_type

    def request(self, message: dict[str, object]) -> dict[str, object]:
        """Send ``message`` and read up to its reply (blocking; pushes before it are kept)."""
        self.sock.setblocking(True)
        self.sock.sendall(encode_message({"id": 1, **message}))
        while True:
            for reply in self.read(block=True):
                return reply

    def read(self, block: bool = False) -> list[dict[str, object]]:
        """Take in what arrived: pushes go to ``states``; the replies are returned."""
        self.sock.setblocking(block)
        try:
            data = self.sock.recv(1 << 20)
        except BlockingIOError:
            return []
        if not data:
            raise ConnectionError("the daemon closed a raw client")
        now = time.monotonic()
        self.buffer += data
        lines = self.buffer.split(b"\n")
        self.buffer = lines.pop()
        replies = []
        for line in lines:
            message = json.loads(line)
            if message.get("push") == "actions":
                for action in message["actions"]:  # type: ignore[union-attr]
                    if action["do"] == "state":
                        self.states.append((now, action["state"]))
            elif "push" not in message:
                replies.append(message)
        return replies

    def activate(self) -> None:
        self.request({"op": "request_active", "args": {"session": "s", "type": self.session_type}})

    def release(self) -> None:
        self.request({"op": "release", "args": {"session": "s"}})


def fan_out_in_process(sock_path: Path, clients: int, trials: int) -> dict[str, list[float]]:
    """Seconds from the prompt's request to each raw client's ``interrupted`` push, and from
    its release to each ``active`` push, over ``trials`` prompts."""
    music = [RawClient(sock_path, f"raw-{i}", "ambient") for i in range(clients)]
    for client in music:
        client.activate()
    prompt = RawClient(sock_path, "raw-prompt", "transient-solo")
    selector = selectors.DefaultSelector()
    for client in music:
        selector.register(client.sock, selectors.EVENT_READ, client)
    figures: dict[str, list[float]] = {"interrupted": [], "active": [], "all_interrupted": []}
    figures["all_active"] = []
    for _ in range(trials):
        for state, step in (("interrupted", prompt.activate), ("active", prompt.release)):
            for client in music:
                client.states.clear()
            started = time.monotonic()
            step()
            waiting = set(music)
            deadline = started + PHASE_TIMEOUT
            while waiting and time.monotonic() < deadline:
                for key, _ in selector.select(1.0):
                    client = key.data
                    client.read()
                    if any(s == state for _, s in client.states):
                        waiting.discard(client)
            times = [next(t for t, s in c.states if s == state) - started for c in music]
            figures[state] += times
            figures[f"all_{state}"].append(max(times))
    selector.close()
    for client in [*music, prompt]:
        client.sock.close()
    return figures


# -- the clients: N real processes ------------------------------------------------------------


class Clients:
    """The client processes of one round: their report pipe (read here), the pipe whose end of
    file tells the music clients to exit, and the prompt's own command pipe."""

    def __init__(self, env: dict[str, str], log: Path, nice: int) -> None:
        self.nice = nice
        self.env = dict(env, AUDIOSESSION_BACKEND="null", AUDIOSESSION_DAEMON="auto")
        self.log = open(log, "ab")
        self.reports, self.report_end = os.pipe()
        self.quit_end, self.keep_alive = os.pipe()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.buffer = b""
        self.prompt_stdin: int | None = None
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.reports, selectors.EVENT_READ)

    def spawn(self, name: str, session_type: str, src: str, loop: bool = True) -> None:
        stdin = self.quit_end
        if session_type == "transient-solo":
            stdin, self.prompt_stdin = os.pipe()
        self.procs[name] = subprocess.Popen(
            [
                "nice",
                "-n",
                str(self.nice),
                sys.executable,
                "-c",
                CLIENT,
                name,
                session_type,
                src,
                "loop" if loop else "once",
            ],
            env=self.env,
            stdin=stdin,
            stdout=self.report_end,
            stderr=self.log,
        )
        if stdin != self.quit_end:
            os.close(stdin)

    def tell_prompt(self, command: str) -> None:
        assert self.prompt_stdin is not None
        os.write(self.prompt_stdin, command.encode() + b"\n")

    def collect(
        self, done: Callable[[list[Report]], bool], timeout: float = PHASE_TIMEOUT
    ) -> list[Report]:
        """Reports read until ``done(the reports so far)`` or ``timeout`` seconds passed."""
        reports: list[Report] = []
        deadline = time.monotonic() + timeout
        while not done(reports) and time.monotonic() < deadline:
            if not self.selector.select(min(deadline - time.monotonic(), 1.0)):
                continue
            self.buffer += os.read(self.reports, 1 << 20)
            lines = self.buffer.split(b"\n")
            self.buffer = lines.pop()
            reports += [json.loads(line) for line in lines]
        return reports

    def cpu_seconds(self) -> float:
        """CPU time of the clients still running."""
        total = 0.0
        for proc in self.procs.values():
            with contextlib.suppress(OSError):
                total += ProcFigures.of(proc.pid).cpu
        return total

    def close(self, timeout: float = 60.0) -> int:
        """End of file for the clients: they exit; those still there after ``timeout`` are
        killed. Returns how many had to be."""
        os.close(self.keep_alive)
        if self.prompt_stdin is not None:
            os.close(self.prompt_stdin)
        killed = 0
        deadline = time.monotonic() + timeout
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                killed += 1
        self.kill()
        self.selector.close()
        for fd in (self.reports, self.report_end, self.quit_end):
            os.close(fd)
        self.log.close()
        return killed

    def kill(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
        for proc in self.procs.values():
            proc.wait()


Report = dict[str, Any]


def heard_by_all(
    names: list[str], state: str, earlier: Sequence[Report] = (), command: str | None = None
) -> Callable[[list[Report]], bool]:
    """Whether every client of ``names`` has reported ``state`` (counting the reports
    ``earlier``), and the prompt ``command`` if one is given."""

    def done(reports: list[Report]) -> bool:
        heard = first_times([*earlier, *reports], state)
        said = command is None or any(
            r["client"] == "prompt" and r["event"] == command for r in reports
        )
        return said and all(n in heard for n in names)

    return done


def first_times(reports: list[Report], state: str) -> dict[str, float]:
    """When each client first reported ``state``."""
    first: dict[str, float] = {}
    for report in reports:
        if report["event"] == "state" and report["state"] == state:
            first.setdefault(report["client"], report["t"])
    return first


@dataclass
class Round:
    clients: int
    started: float  # seconds from the first spawn to the last client active
    connected: int  # clients the daemon serves once all have started
    interrupted: list[float] = field(default_factory=list)  # each client, each prompt
    all_interrupted: list[float] = field(default_factory=list)  # the last client, per prompt
    resumed: list[float] = field(default_factory=list)
    all_resumed: list[float] = field(default_factory=list)
    lost: set[str] = field(default_factory=set)  # not active in time, or missed an event
    not_started: int = 0  # of the lost: not active within the time a wave may take
    daemon_start_cpu: float = 0.0
    daemon_rest_load: float = 0.0  # share of a core, the clients playing
    clients_rest_load: float = 0.0
    daemon_prompts_cpu: float = 0.0
    daemon_with: ProcFigures | None = None
    set_aside: int = 0  # pings the daemon saw unanswered within its deadline
    set_aside_exiting: int = 0  # the same, as the clients exit
    fell_back: int = 0  # times a client took the daemon for gone
    killed: int = 0  # clients that had to be killed at the end


def start_clients(
    clients: Clients, names: list[str], src: str, wave: int, daemon_pid: int
) -> Round:
    """Start the music clients, ``wave`` at a time (the next wave once these play); wait until
    the daemon serves them all (a client that fell back to deciding for itself reconnects)."""
    cpu = ProcFigures.of(daemon_pid).cpu
    first_spawn = time.monotonic()
    reports: list[Report] = []
    for begin in range(0, len(names), wave):
        batch = names[begin : begin + wave]
        for name in batch:
            clients.spawn(name, "playback" if name == names[0] else "ambient", src)
        reports += clients.collect(heard_by_all(batch, "active", reports))
    active = first_times(reports, "active")
    result = Round(len(names), max(active.values(), default=float("nan")) - first_spawn, 0)
    result.lost = set(names) - set(active)
    result.not_started = len(result.lost)
    result.daemon_start_cpu = ProcFigures.of(daemon_pid).cpu - cpu
    return result


def time_prompts(
    clients: Clients, result: Round, names: list[str], trials: int, timeout: float
) -> None:
    """``trials`` times: the prompt plays until every client is interrupted, then pauses
    until every client is active again; the latencies go into ``result``."""
    playing = [n for n in names if n not in result.lost]
    for _ in range(trials):
        for command, state, each, last in (
            ("play", "interrupted", result.interrupted, result.all_interrupted),
            ("pause", "active", result.resumed, result.all_resumed),
        ):
            clients.tell_prompt(command)
            reports = clients.collect(heard_by_all(playing, state, command=command), timeout)
            mark = next(
                (
                    float(r["started" if command == "play" else "asked"])
                    for r in reports
                    if r["client"] == "prompt" and r["event"] == command
                ),
                math.nan,
            )
            heard = first_times(reports, state)
            result.lost |= set(playing) - set(heard)
            latencies = [heard[n] - mark for n in playing if n in heard]
            each += latencies
            last.append(max(latencies, default=float("nan")))
            time.sleep(0.3)  # let the prompt's own session settle


def run_round(
    root: Path, env: dict[str, str], sock_path: Path, daemon_pid: int, n: int, args: Any
) -> Round:
    def unanswered() -> int:
        return (root / "daemon.log").read_text().count("has not answered a ping")

    warnings_before = unanswered()
    clients_log = root / f"clients-{n}-{time.monotonic_ns()}.log"
    clients = Clients(env, clients_log, args.nice)
    try:
        clients.spawn("prompt", "transient-solo", str(root / "prompt.wav"), loop=False)
        names = [f"c{i}" for i in range(n)]
        result = start_clients(clients, names, str(root / "music.wav"), args.wave, daemon_pid)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # less the prompt and the asking connection
            result.connected = int(daemon_status(sock_path)["clients"]) - 2  # type: ignore[call-overload]
            if result.connected >= n:
                break
            time.sleep(0.2)
        result.daemon_with = before = ProcFigures.of(daemon_pid)
        clients_cpu, rest_start = clients.cpu_seconds(), time.monotonic()
        time.sleep(5)
        rest = time.monotonic() - rest_start
        result.daemon_rest_load = (ProcFigures.of(daemon_pid).cpu - before.cpu) / rest
        result.clients_rest_load = (clients.cpu_seconds() - clients_cpu) / rest
        cpu = ProcFigures.of(daemon_pid).cpu
        time_prompts(clients, result, names, args.trials, args.timeout)
        result.daemon_prompts_cpu = ProcFigures.of(daemon_pid).cpu - cpu
        result.set_aside = unanswered() - warnings_before
        result.killed = clients.close()
    finally:
        clients.kill()
    result.fell_back = clients_log.read_text().count("deciding in this process")
    result.set_aside_exiting = unanswered() - warnings_before - result.set_aside
    return result


def ms(values: list[float]) -> str:
    """Median / max in milliseconds."""
    if not values:
        return "-"
    return f"{statistics.median(values) * 1000:.1f} / {max(values) * 1000:.1f}"


HEADER = (
    "| clients | start all (s) | interrupted | all interrupted | active again | all active "
    "| daemon CPU: start, prompts (s) | lost |\n" + "|---" * 8 + "|"
)


def peer_row(n: int, peer: dict[str, list[float]]) -> str:
    return (
        f"| {n} raw connections of 1 process | - | {ms(peer['interrupted'])} "
        f"| {ms(peer['all_interrupted'])} | {ms(peer['active'])} | {ms(peer['all_active'])} "
        "| - | 0 |"
    )


def round_rows(n: int, number: int, r: Round, peer: dict[str, list[float]]) -> str:
    ratio = statistics.median(r.all_interrupted or [math.nan]) / statistics.median(
        peer["all_interrupted"]
    )
    return (
        f"| {n} processes, round {number} | {r.started:.1f} | {ms(r.interrupted)} "
        f"| {ms(r.all_interrupted)} | {ms(r.resumed)} | {ms(r.all_resumed)} "
        f"| {r.daemon_start_cpu:.2f}, {r.daemon_prompts_cpu:.2f} "
        f"| {len(r.lost)} ({r.not_started} not started) |\n"
        f"    'all interrupted' {ratio:.1f} x the raw peer's; {r.connected} of {n} connected "
        f"once started; at rest the daemon used {r.daemon_rest_load * 100:.1f} % of a core, "
        f"the clients {r.clients_rest_load * 100:.0f} % in all; {r.set_aside} pings "
        f"unanswered within the deadline ({r.set_aside_exiting} more as the clients exited), "
        f"{r.fell_back} falls back to embedded mode, "
        f"{r.killed} killed at the end"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="200", help="client processes, or a list: 50,200")
    parser.add_argument("--wave", type=int, default=20, help="clients started together")
    parser.add_argument("--trials", type=int, default=5, help="prompts per round")
    parser.add_argument("--rounds", type=int, default=2, help="times the clients come and go")
    parser.add_argument("--nice", type=int, default=19, help="niceness of the clients")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per phase")
    args = parser.parse_args()
    counts = [int(n) for n in args.clients.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = private_env(root)
        tone(root / "music.wav", 440, 1.0)
        tone(root / "prompt.wav", 1000, 60.0)
        daemon, sock_path = start_daemon(env, root / "daemon.log")
        try:
            print(f"clients: c0 playback, the others ambient, at nice {args.nice}")
            print(f"{args.trials} prompts a round; latencies median / max in ms; all: the last")
            print(f"the daemon, started:  {figures_without_clients(daemon.pid, sock_path)}")
            print(HEADER)
            for n in counts:
                peer = fan_out_in_process(sock_path, n, args.trials)
                print(peer_row(n, peer))
                for number in range(1, args.rounds + 1):
                    result = run_round(root, env, sock_path, daemon.pid, n, args)
                    print(round_rows(n, number, result, peer))
                    print(f"    the daemon with the clients: {result.daemon_with}")
                    after = figures_without_clients(daemon.pid, sock_path, args.timeout)
                    print(f"    the daemon, all gone:        {after}", flush=True)
        finally:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(10)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()


if __name__ == "__main__":
    main()
