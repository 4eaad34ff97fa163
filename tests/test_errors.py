"""Every error class of the package is an AudioSessionError whose name ends in "Error"."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import audiosession
from audiosession.errors import AudioSessionError
from audiosession.platforms.daemon_connection import DaemonLostError, DaemonUnavailableError
from audiosession.policy import ConfigError
from audiosession.wire.protocol import ProtocolError
from support.examples import run_example

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


FAILED_PLAY = """
from audiosession import Audio, NotSupportedError

try:
    Audio("missing.wav").play().result(timeout=10)
except NotSupportedError as error:
    print("the program sees:", error)
"""
SET_UP_LOGGING = 'import logging\nlogging.basicConfig(format="logged: %(name)s: %(message)s")\n'


def test_a_failed_play_reaches_the_program_once_and_the_package_prints_nothing(tmp_path):
    result = run_example(FAILED_PLAY, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "the program sees: missing.wav: no such file\n"
    assert result.stderr == ""


def test_a_program_that_sets_up_logging_gets_the_package_s_log(tmp_path):
    result = run_example(SET_UP_LOGGING + FAILED_PLAY, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "the program sees: missing.wav: no such file\n"
    assert result.stderr == "logged: audiosession.elements.media: missing.wav: no such file\n"
