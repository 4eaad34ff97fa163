"""The environment variables that choose one of a few values (``AUDIOSESSION_MPRIS``,
``AUDIOSESSION_OWN_STREAMS``)."""

from __future__ import annotations

import logging

import pytest

from audiosession.elements.own_streams import ENABLE_ENV, ENABLE_VALUES
from audiosession.environment import env_choice


@pytest.mark.parametrize(
    ("value", "chosen"), [(None, "on"), ("", "on"), (" Children ", "children"), ("OFF", "off")]
)
def test_unset_empty_and_any_case_are_read(monkeypatch, caplog, value, chosen) -> None:
    if value is None:
        monkeypatch.delenv(ENABLE_ENV, raising=False)
    else:
        monkeypatch.setenv(ENABLE_ENV, value)
    with caplog.at_level(logging.WARNING):
        assert env_choice(ENABLE_ENV, ENABLE_VALUES, "on") == chosen
    assert caplog.records == []


def test_a_wrong_value_gives_the_default_and_a_warning_that_names_the_right_ones(
    monkeypatch, caplog
) -> None:
    monkeypatch.setenv(ENABLE_ENV, "sometimes")
    with caplog.at_level(logging.WARNING):
        assert env_choice(ENABLE_ENV, ENABLE_VALUES, "on") == "on"
    [record] = caplog.records
    assert record.getMessage() == (
        "AUDIOSESSION_OWN_STREAMS='sometimes' is not one of on, children, off; using 'on'"
    )
