"""The package's public face: what ``from audiosession import ...`` offers, and what ``help()``
and an IDE show of each public class."""

from __future__ import annotations

import ast
import inspect
import pydoc

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


INTERNAL_HOOKS = {
    "activation_refused",
    "resume_steps",
    "suspend_steps",
    "update_steps",
    "release",
    "refresh_audible",
    "keeps_itself_alive",
    "is_audible_now",
    "open_source",
    "add_element",
    "hold",
    "forget_interrupted",
    "check_open",
    "window_closed",
}


def _public_classes() -> list[type]:
    return [
        value
        for name in audiosession.__all__
        if inspect.isclass(value := getattr(audiosession, name))
    ]


def _undocumented(cls: type) -> list[str]:
    """The public members ``help(cls)`` shows without a docstring of their own (a descriptor
    whose doc is only its class's, as an ``on<event>`` handler's would be, counts as none)."""
    missing = []
    for attribute in inspect.classify_class_attrs(cls):
        if attribute.name.startswith("_"):
            continue
        if not attribute.defining_class.__module__.startswith("audiosession"):
            continue  # str's, Enum's, Future's: documented where they come from
        value = attribute.object
        if attribute.kind == "data" and not inspect.isdatadescriptor(value):
            continue  # a constant (MEDIA_ERR_*, an enum member, default_type)
        doc = inspect.getdoc(value)
        if not isinstance(value, property) and doc == inspect.getdoc(type(value)):
            doc = None
        if not doc:
            missing.append(attribute.name)
    return missing


def test_help_of_each_public_class_documents_every_member_it_lists():
    undocumented = {cls.__name__: _undocumented(cls) for cls in _public_classes()}
    assert {name: members for name, members in undocumented.items() if members} == {}


def test_help_of_each_public_class_shows_none_of_the_spec_machinery():
    for cls in _public_classes():
        text = pydoc.render_doc(cls, renderer=pydoc.plaintext)
        shown = {line.split("(")[0].strip() for line in text.splitlines()[1:]}
        shown = {name.removeprefix("|").strip() for name in shown}
        assert not shown & INTERNAL_HOOKS, (cls.__name__, shown & INTERNAL_HOOKS)


def test_help_of_audio_says_it_is_audio_and_shows_play_and_pause():
    text = pydoc.render_doc(audiosession.Audio, renderer=pydoc.plaintext)
    assert "``Audio(src=None, *, window=None)``" in text
    for member in ("play(self)", "pause(self)", "onended", "current_time", "muted"):
        assert member in text
