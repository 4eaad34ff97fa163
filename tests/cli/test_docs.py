"""docs/cli.md keeps up with the command: every option each ``--help`` shows is in the
command's section, and every backend the command accepts is in the backend list."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from support.commands import COMMANDS, command_env

CLI_MD = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def section(command: str) -> str:
    """The text of docs/cli.md's section whose heading names ``command``."""
    parts = re.split(r"^## ", CLI_MD.read_text(), flags=re.M)
    found = [
        part
        for part in parts[1:]
        if re.search(rf"`(audiosession )?{command}\b", part.split("\n")[0])
    ]
    assert len(found) == 1, f"docs/cli.md has no one section headed by `{command}`"
    return found[0]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_of_a_command_is_in_its_section_of_docs_cli_md(cli, command):
    result = cli(command, "--help")
    assert result.returncode == 0, result.stderr
    options = set(re.findall(r"(?<![\w-])--?[a-z][a-z-]*", result.stdout.split("example:")[0]))
    options -= {"-h", "--help", "-v", "--verbose"}  # every command's (docs/cli.md: "-v logs")
    missing = sorted(option for option in options if option not in section(command))
    assert not missing, f"docs/cli.md's section of {command} lacks {missing}"


def test_every_backend_the_command_accepts_is_in_docs_cli_md(cli):
    result = cli("devices", env=command_env(AUDIOSESSION_BACKEND="bogus"))
    accepted = result.stderr.split("use one of ")[1].split(";")[0].split(")")[0].strip()
    names = [name.strip() for name in accepted.split(",")]
    assert len(names) >= 5, result.stderr
    (line,) = [
        line for line in CLI_MD.read_text().split("\n- ") if "`AUDIOSESSION_BACKEND` picks" in line
    ]
    missing = [name for name in names if f"`{name}`" not in line]
    assert not missing, f"docs/cli.md's AUDIOSESSION_BACKEND list lacks {missing}"
