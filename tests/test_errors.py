"""Every error class of the package is an AudioSessionError whose name ends in "Error"."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import audiosession
from audiosession.errors import AudioSessionError
from audiosession.platforms.client import DaemonLostError, DaemonUnavailableError
from audiosession.platforms.policy import ConfigError
from audiosession.platforms.protocol import ProtocolError

NOT_YET: set[str] = set()  # every error class follows the rule


def package_error_classes() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for module_info in pkgutil.walk_packages(audiosession.__path__, "audiosession."):
        if module_info.name.endswith("__main__"):
            continue
        module = importlib.import_module(module_info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__.startswith("audiosession"):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[name] for name in sorted(found) if name not in NOT_YET]


def test_every_error_class_is_an_audiosession_error_named_error():
    classes = package_error_classes()
    assert len(classes) >= 15  # the DOM's six, the policy's, the daemon's, the media's ...
    for error in classes:
        assert issubclass(error, AudioSessionError), error
        assert error.__name__.endswith("Error"), error
        assert error.name == error.__name__


@pytest.mark.parametrize(
    ("error", "builtin"),
    [
        (ConfigError, ValueError),
        (ProtocolError, ValueError),
        (DaemonUnavailableError, RuntimeError),
        (DaemonLostError, RuntimeError),
    ],
)
def test_errors_callers_catch_as_a_builtin_are_still_that_builtin(error, builtin):
    assert issubclass(error, AudioSessionError) and issubclass(error, builtin)
    with pytest.raises(builtin):
        raise error("a message")
