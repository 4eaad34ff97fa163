"""Every code name a document puts in backticks as a module, file or function of ours exists,
so that the docs cannot go on naming what was renamed or removed."""

from __future__ import annotations

import ast
import importlib
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "audiosession"
DOCUMENTS = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
SUBPACKAGES = {path.name for path in SRC.iterdir() if (path / "__init__.py").exists()}

FOREIGN_CALLS = {
    "Seek",  # MPRIS methods
    "SetPosition",
    "addTrack",  # the web's JavaScript names
    "getWriter",
    "change",  # arguments of ours that we call (docs/realtime.md)
    "reposition",
    "set_position_state",  # the spec's, not built yet (docs/media-session.md, "Not done yet")
}
"""Called names in the docs that are not ours to define."""

FILE_SUFFIXES = {"toml", "sock", "lock", "json", "wav", "mp3", "png", "md", "txt", "service"}

FOREIGN_PREFIXES = (
    "pa_",
    "sys.",
    "time.",
    "os.",
    "json.",
    "np.",
    "asyncio.",
    "writable.",
    "pygame.",
    "music.",
    "Channel.",
    "mpv.",
)


def code_names(document: Path) -> list[str]:
    return re.findall(r"`([^`\n]+)`", document.read_text())


@cache
def repository_files() -> tuple[str, ...]:
    return tuple(
        str(path.relative_to(ROOT))
        for path in ROOT.rglob("*.py")
        if not any(part.startswith(".") for part in path.relative_to(ROOT).parts)
    )


@cache
def defined_names() -> frozenset[str]:
    """Every function, class, method and assigned name of the package."""
    names: set[str] = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            targets = node.targets if isinstance(node, ast.Assign) else []
            if isinstance(node, ast.AnnAssign):
                targets = [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    names.add(target.id)
                elif isinstance(target, ast.Attribute):
                    names.add(target.attr)
    return frozenset(names)


def resolves(dotted: str) -> bool:
    """``audiosession.a.b`` (or ``a.b`` under the package) is a module, or an attribute of
    one."""
    parts = dotted.split(".")
    if parts[0] != "audiosession":
        parts = ["audiosession", *parts]
    for split in range(len(parts), 0, -1):
        try:
            module = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        target: object = module
        for attribute in parts[split:]:
            if not hasattr(target, attribute):
                return False
            target = getattr(target, attribute)
        return True
    return False


def problems(document: Path) -> list[str]:
    found = []
    for name in code_names(document):
        if re.fullmatch(r"[\w/.-]+\.py", name):
            if not any(f == name or f.endswith("/" + name) for f in repository_files()):
                found.append(f"`{name}`: no such file")
            continue
        call = re.fullmatch(r"([A-Za-z_][\w.]*)\(.*\)", name)
        if call:
            called = call.group(1)
            if called.startswith(FOREIGN_PREFIXES) or called.split(".")[-1] in FOREIGN_CALLS:
                continue
            if called.split(".")[-1] not in defined_names():
                found.append(f"`{name}`: no function of that name")
            continue
        dotted = re.fullmatch(r"[a-z_]+(\.[a-z_]+)+", name)
        if (
            dotted
            and name.split(".")[0] in {"audiosession", *SUBPACKAGES}
            and name.split(".")[-1] not in FILE_SUFFIXES
        ):
            if not resolves(name):
                found.append(f"`{name}`: no such module or attribute")
    return found


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_the_code_names_a_document_gives_exist(document: Path) -> None:
    assert not problems(document), f"{document.name}: " + "; ".join(problems(document))


def test_the_check_finds_a_name_that_is_gone(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "`platforms/client.py`, `update_all_states()`, `wire.nothing`, "
        "`session/audio_session.py`, `try_activating()`, `wire.endpoint.PROTOCOL_VERSION`"
    )
    assert problems(page) == [
        "`platforms/client.py`: no such file",
        "`update_all_states()`: no function of that name",
        "`wire.nothing`: no such module or attribute",
    ]
