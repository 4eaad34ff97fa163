"""Other users on the same machine, as root with ``nobody`` as the neighbour: a squatted
``/tmp`` fallback, a socket served by another uid, planted symbolic links next to the
daemon's socket. Our processes must refuse with a clear message and touch nothing of theirs."""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import audiosession
from support.audio import Media
from support.commands import run_command
from support.daemon import Player, base_env
from support.other_users import NOBODY, python_for

pytestmark = pytest.mark.skipif(
    os.getuid() != 0, reason="needs root to act as another user (nobody)"
)

SQUATTER = textwrap.dedent("""
    import json, os, socket, sys
    directory = sys.argv[1]
    os.makedirs(directory, exist_ok=True)
    os.chmod(directory, 0o777)
    path = os.path.join(directory, "daemon.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    os.chmod(path, 0o777)
    server.listen(8)
    print("listening", flush=True)
    while True:
        conn, _ = server.accept()
        conn.settimeout(2)
        data = b""
        try:
            data = conn.recv(65536)
            conn.sendall(b'{"id":null,"ok":true,"version":1,"client":"c1","daemon_pid":1}\\n')
            conn.sendall(b'{"push":"actions","actions":[{"do":"state","session":"window-1",'
                         b'"state":"interrupted","fade":0}]}\\n')
        except OSError:
            pass
        print(json.dumps({"received": data.decode(errors="replace")}), flush=True)
""")


class Squatter:
    """A process of ``nobody`` serving a socket of its own at ``directory/daemon.sock``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.socket = directory / "daemon.sock"
        self.proc = subprocess.Popen(
            [python_for(NOBODY), "-c", SQUATTER, str(directory)],
            user=NOBODY,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "listening"

    def received(self) -> list[str]:
        """What clients sent it (call once, at the end: it stops the squatter)."""
        self.proc.kill()
        out, _ = self.proc.communicate(timeout=10)
        return [json.loads(line)["received"] for line in out.splitlines() if line.strip()]


def fallback_env(tmp_path: Path, shared: Path) -> dict[str, str]:
    """As under ``su`` or cron: no ``XDG_RUNTIME_DIR``; the fallback is under ``$TMPDIR``."""
    env = base_env(tmp_path, tmp_path)
    del env["XDG_RUNTIME_DIR"]
    env["TMPDIR"] = str(shared)
    return env


def test_a_squatted_tmp_fallback_is_refused_by_the_client_and_the_daemon(
    tmp_path: Path, shared_tmp: Path, media: Media
) -> None:
    squatter = Squatter(shared_tmp / f"audiosession-{os.getuid()}")
    env = fallback_env(tmp_path, shared_tmp)

    # A program in the default mode decides for itself, and says why, in one line.
    env.update(AUDIOSESSION_DAEMON="auto", AUDIOSESSION_BACKEND=f"wav:{tmp_path}/music.wav")
    music = Player(
        "music",
        ["--type", "playback", "--src", media.tone(440, 0.3)],
        env,
        tmp_path / "music.wav",
        tmp_path / "music.stderr",
    )
    try:
        ready = music.wait_for("ready")
        music.wait_for("ended")
        music.quit()
    finally:
        music.kill()
    assert ready["platform"] == "embedded"
    warning = [line for line in music.stderr().splitlines() if str(squatter.socket) in line]
    assert len(warning) == 1, music.stderr()
    assert f"belongs to uid {NOBODY}, not to you (uid 0)" in warning[0]
    assert "set XDG_RUNTIME_DIR" in warning[0]

    # Asked for the daemon, the command says so and exits 2, without a traceback.
    env["AUDIOSESSION_DAEMON"] = "required"
    status = run_command("status", env=env)
    assert status.returncode == 2, status.stderr
    assert "Traceback" not in status.stderr and len(status.stderr.splitlines()) == 1
    assert f"belongs to uid {NOBODY}" in status.stderr

    # Our daemon does not start there either, in one line.
    daemon = subprocess.run(
        [sys.executable, "-m", "audiosession.daemon"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert daemon.returncode == 1, daemon.stderr
    assert daemon.stderr.count("\n") == 1 and "Traceback" not in daemon.stderr
    assert f"of uid {NOBODY}" in daemon.stderr and "set XDG_RUNTIME_DIR" in daemon.stderr

    assert squatter.received() == []  # it learnt nothing: no pid, program or session ids


def test_a_socket_of_ours_served_by_another_uid_is_refused_before_saying_anything(
    tmp_path: Path, shared_tmp: Path
) -> None:
    # The socket and its directory look like ours, but the process listening is nobody's:
    # only its peer credentials (SO_PEERCRED) tell.
    squatter = Squatter(shared_tmp / "disguised")
    os.chown(squatter.directory, 0, 0)
    os.chmod(squatter.directory, 0o700)
    os.chown(squatter.socket, 0, 0)
    env = base_env(tmp_path, tmp_path)
    env.update(AUDIOSESSION_DAEMON="required", AUDIOSESSION_DAEMON_SOCKET=str(squatter.socket))
    status = run_command("status", env=env)
    assert status.returncode == 2, status.stderr
    assert f"is served by a process of uid {NOBODY}, not by you (uid 0)" in status.stderr
    assert squatter.received() == [""]  # connected, then left without a word


@pytest.mark.parametrize(
    ("mode", "refusal"),
    [
        (0o777, "other users may write to its directory"),
        (0o1777, "the lock file {socket}.lock is a symbolic link; refusing"),  # sticky, as /tmp
    ],
)
def test_a_lock_file_planted_as_a_link_is_refused_and_its_target_left_alone(
    tmp_path: Path, shared_tmp: Path, mode: int, refusal: str
) -> None:
    shared_tmp.chmod(mode)
    secret = tmp_path / "root-only"
    secret.write_text("precious\n")
    secret.chmod(0o600)
    socket_path = shared_tmp / "x.sock"
    subprocess.run(["ln", "-s", str(secret), f"{socket_path}.lock"], user=NOBODY, check=True)

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "audiosession",
            "daemon",
            "--socket",
            str(socket_path),
            "--no-pulse-bridge",
        ],
        env=base_env(tmp_path, tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert refusal.format(socket=socket_path) in result.stderr
    assert secret.read_text() == "precious\n"  # not truncated, no pid written into it
    assert not socket_path.exists()


def test_a_lock_file_of_another_user_is_refused(tmp_path: Path, shared_tmp: Path) -> None:
    socket_path = shared_tmp / "x.sock"
    subprocess.run(["touch", f"{socket_path}.lock"], user=NOBODY, check=True)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "audiosession",
            "daemon",
            "--socket",
            str(socket_path),
            "--no-pulse-bridge",
        ],
        env=base_env(tmp_path, tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert f"is not a file of yours alone (uid {NOBODY}, 1 link(s))" in result.stderr
    assert Path(f"{socket_path}.lock").stat().st_size == 0


def python_for_nobody() -> tuple[str, dict[str, str]]:
    """A Python that nobody may run, and an environment in which it imports this package and
    its dependencies (from this checkout and its virtual environment)."""
    python = python_for(NOBODY)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDIOSESSION_")}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(audiosession.__file__).parents[1]), *site.getsitepackages()]
    )
    check = subprocess.run(
        [python, "-c", "import audiosession.daemon"],
        user=NOBODY,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check.returncode != 0:
        pytest.fail(f"nobody cannot import audiosession with {python}: {check.stderr}")
    return python, env


def test_a_daemon_whose_config_directory_cannot_be_read_says_so_in_one_line(
    shared_tmp: Path,
) -> None:
    python, env = python_for_nobody()
    config_home = shared_tmp / "config"
    (config_home / "audiosession").mkdir(parents=True)
    (config_home / "audiosession").chmod(0o000)  # root's, and closed to nobody
    runtime = shared_tmp / "run"
    runtime.mkdir()
    os.chown(runtime, NOBODY, -1)
    runtime.chmod(0o700)
    env.update(XDG_CONFIG_HOME=str(config_home), XDG_RUNTIME_DIR=str(runtime))
    result = subprocess.run(
        [python, "-m", "audiosession.daemon", "--no-pulse-bridge"],
        user=NOBODY,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert (
        f"{config_home}/audiosession/audiosession.toml: (file): cannot be read: Permission denied"
    ) in result.stderr
    assert not (runtime / "audiosession" / "daemon.sock").exists()
