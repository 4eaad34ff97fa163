"""What the command and the library do when their environment is wrong: an unknown backend
or daemon mode, an optional package that is not installed. One clear line, never a raw
traceback; and the seed's first example (a URL) works with the default install."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from support.commands import command_env

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]


def without(module: str, code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a new Python in which ``module`` cannot be imported, exactly as when
    it is not installed (``sys.modules[module] = None`` makes its import raise
    ``ModuleNotFoundError``)."""
    program = f"import sys\nsys.modules[{module!r}] = None\n{code}"
    return subprocess.run(
        [sys.executable, "-c", program],
        env=command_env(),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "command",
    [["play", "{tone}"], ["devices"], ["call", "--seconds", "1"], ["demo", "--out", "{out}"]],
)
def test_an_unknown_backend_is_one_line_and_exit_status_2(cli, media, tmp_path, command):
    args = [a.format(tone=media.tone(440, 0.2), out=tmp_path / "out") for a in command]
    result = cli(*args, env=command_env(AUDIOSESSION_BACKEND="bogus"))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        f"audiosession {command[0]}: unknown audio backend 'bogus'; use one of "
    ), lines[0]


@pytest.mark.parametrize("command", [["status"], ["devices"]])
def test_an_unknown_daemon_mode_is_one_line_and_exit_status_2(cli, command):
    result = cli(*command, env=command_env(AUDIOSESSION_DAEMON="sometimes"))
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"audiosession {command[0]}: AUDIOSESSION_DAEMON='sometimes' is not a valid value; "
        "use off, auto or required"
    ]


def test_the_default_install_has_what_urls_need() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    default = {
        requirement.split(">")[0].split(";")[0].strip() for requirement in project["dependencies"]
    }
    assert "httpx" in default  # URLs are the seed's first example: no extra needed


def test_a_url_without_httpx_is_one_clear_error_naming_what_to_install(tmp_path) -> None:
    result = without(
        "httpx",
        "from audiosession import Audio\n"
        "try:\n"
        "    Audio('http://127.0.0.1:9/tone.wav')\n"
        "except ImportError as error:\n"
        "    print(type(error).__name__, error, sep=': ')\n",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "MissingDependencyError: playing http: and https: URLs needs the Python package 'httpx', "
        "which is not installed; pip install httpx (a default install of audiosession has "
        "it)"
    )


def test_the_default_install_has_what_the_command_needs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    default = {
        requirement.split(">")[0].split(";")[0].strip() for requirement in project["dependencies"]
    }
    assert "rich" in default  # the console script is installed by a plain `pip install`


def test_the_demo_without_matplotlib_says_so_in_one_line_and_writes_the_sound(tmp_path):
    args = ["demo", "--virtual", "--out", "out"]
    result = without(
        "matplotlib", f"from audiosession.cli import main\nsys.exit(main({args!r}))", tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "demo.png will not be drawn: it needs matplotlib; pip install 'audiosession[cli]'"
    ]
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [
        "demo-communications.wav",
        "demo.wav",
    ]
