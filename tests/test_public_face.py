"""The package's public face: what ``from audiosession import ...`` offers, and what ``help()``
and an IDE show of each public class."""

from __future__ import annotations

import ast
import inspect

import audiosession

NOT_IMPORTED = {"navigator", "platform"}  # made on first use; a function of the package's own


def _type_checking_imports() -> tuple[dict[str, str], set[str]]:
    """The names the package's ``if TYPE_CHECKING:`` block imports (by module) and declares."""
    tree = ast.parse(inspect.getsource(audiosession))
    [block] = [
        node
        for node in tree.body
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name)
        if node.test.id == "TYPE_CHECKING"
    ]
    imported: dict[str, str] = {}
    declared: set[str] = set()
    for node in block.body:
        if isinstance(node, ast.ImportFrom) and node.module != "typing":
            assert node.module is not None
            imported.update((alias.name, node.module) for alias in node.names)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            declared.add(node.target.id)
    return imported, declared


def test_the_lazy_table_and_the_type_checking_imports_say_what_all_says():
    imported, declared = _type_checking_imports()
    public = set(audiosession.__all__)
    assert len(audiosession.__all__) == len(public), "a name is in __all__ twice"
    assert set(audiosession._EXPORTS) == public - NOT_IMPORTED
    assert imported == audiosession._EXPORTS
    assert declared == {"navigator"}


def test_every_public_name_is_there_and_comes_from_where_the_table_says():
    for name, module in audiosession._EXPORTS.items():
        value = getattr(audiosession, name)
        assert value.__module__.startswith(module), (name, value.__module__, module)
    assert callable(audiosession.platform)
