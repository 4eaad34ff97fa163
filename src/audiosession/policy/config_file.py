"""Policy configuration files: where ``audiosession.toml`` is, and reading it into a
``PolicyConfig`` (the keys: docs/policy.md)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from audiosession.policy.config import (
    MAX_RAMP,
    ConfigError,
    PolicyConfig,
    allowed_effects,
    allowed_types,
    check_number,
    parse_effect,
    parse_type,
)
from audiosession.policy.table import Effect
from audiosession.types import AudioSessionType

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

log = logging.getLogger(__name__)

_Fail = Callable[[str, str], ConfigError]
"""Makes the error for a key of the file being read: ``fail(key, message)``."""

# section -> {toml key: (PolicyConfig field, allowed, (low, high) or None for a string)}
_SCALARS: Mapping[str, Mapping[str, tuple[str, str, tuple[float, float] | None]]] = {
    "ducking": {
        "gain": ("duck_gain", "a number from 0 to 1", (0.0, 1.0)),
        "attack": ("duck_attack", f"seconds, from 0 to {MAX_RAMP:g}", (0.0, MAX_RAMP)),
        "release": ("duck_release", f"seconds, from 0 to {MAX_RAMP:g}", (0.0, MAX_RAMP)),
    },
    "stop": {
        "fade": ("stop_fade", f"seconds, from 0 to {MAX_RAMP:g}", (0.0, MAX_RAMP)),
    },
    "routing": {
        "communications_device": ("communications_device", "a non-empty device id", None),
    },
}
_SECTIONS = ("table", "ducking", "stop", "roles", "routing")


def load_config(path: str | os.PathLike[str]) -> PolicyConfig:
    """The configuration in the TOML file at ``path`` (keys: docs/policy.md); anything not
    given keeps its default. A bad file raises ``ConfigError`` naming the file, the key and
    the allowed values."""
    name = os.fspath(path)

    def fail(key: str, message: str) -> ConfigError:
        return ConfigError(f"{name}: {key}: {message}", path=name, key=key)

    try:
        with open(name, "rb") as file:
            data = tomllib.load(file)
    except tomllib.TOMLDecodeError as error:
        raise fail("(syntax)", f"not valid TOML: {error}") from None
    except OSError as error:
        raise fail("(file)", f"cannot be read: {error.strerror or error}") from None

    fields: dict[str, Any] = {}
    for section, body in data.items():
        if section not in _SECTIONS:
            raise fail(section, f"unknown section; allowed: {', '.join(_SECTIONS)}")
        if not isinstance(body, dict):
            raise fail(section, "must be a table ([" + section + "])")
        if section == "table":
            fields["table"] = _load_table(body, fail)
        elif section == "roles":
            fields["roles"] = _load_roles(body, fail)
        else:
            for key, value in body.items():
                full = f"{section}.{key}"
                spec = _SCALARS[section].get(key)
                if spec is None:
                    allowed = ", ".join(_SCALARS[section])
                    raise fail(full, f"unknown key; allowed: {allowed}")
                field_name, allowed, bounds = spec
                if bounds is None:
                    if not isinstance(value, str) or not value:
                        raise fail(full, f"{value!r} is not allowed; allowed: {allowed}")
                else:
                    try:
                        check_number(value, full, bounds[0], bounds[1], allowed)
                    except ConfigError:
                        raise fail(full, f"{value!r} is out of range; allowed: {allowed}") from None
                    value = float(value)
                fields[field_name] = value
    try:
        return PolicyConfig(**fields)
    except ConfigError as error:  # pragma: no cover - every value was checked above
        raise fail("(config)", str(error)) from None


def _load_table(
    body: Mapping[str, Any], fail: _Fail
) -> dict[tuple[AudioSessionType, AudioSessionType], Effect]:
    table: dict[tuple[AudioSessionType, AudioSessionType], Effect] = {}
    for new_name, row in body.items():
        try:
            new = parse_type(new_name, "")
        except ConfigError:
            raise fail(
                f"table.{new_name}", f"unknown session type; allowed: {allowed_types()}"
            ) from None
        if not isinstance(row, dict):
            raise fail(
                f"table.{new_name}",
                f"must be a table of existing type = effect (allowed effects: {allowed_effects()})",
            )
        for existing_name, value in row.items():
            key = f"table.{new_name}.{existing_name}"
            try:
                existing = parse_type(existing_name, "")
            except ConfigError:
                raise fail(key, f"unknown session type; allowed: {allowed_types()}") from None
            try:
                table[(new, existing)] = parse_effect(value, "")
            except ConfigError:
                raise fail(key, f"unknown effect {value!r}; allowed: {allowed_effects()}") from None
    return table


def _load_roles(body: Mapping[str, Any], fail: _Fail) -> dict[AudioSessionType, str]:
    roles: dict[AudioSessionType, str] = {}
    for type_name, role in body.items():
        key = f"roles.{type_name}"
        try:
            type_ = parse_type(type_name, "")
        except ConfigError:
            raise fail(key, f"unknown session type; allowed: {allowed_types()}") from None
        if not isinstance(role, str) or not role:
            raise fail(key, f"{role!r} is not allowed; allowed: a non-empty media.role string")
        roles[type_] = role
    return roles


def config_path(environ: Mapping[str, str] | None = None) -> tuple[Path, bool]:
    """Where the configuration is read from, and whether it was named explicitly (by
    ``$AUDIOSESSION_CONFIG``) rather than being the per-user default
    ``$XDG_CONFIG_HOME/audiosession/audiosession.toml`` (``~/.config`` if unset)."""
    env = os.environ if environ is None else environ
    explicit = env.get("AUDIOSESSION_CONFIG")
    if explicit:
        return Path(explicit).expanduser(), True
    base = env.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if os.path.isabs(base) else Path.home() / ".config"
    return root / "audiosession" / "audiosession.toml", False


def find_config(environ: Mapping[str, str] | None = None, *, strict: bool = False) -> PolicyConfig:
    """The configuration in force: ``$AUDIOSESSION_CONFIG`` if set, else the per-user file if
    it exists, else the defaults. A bad file (or a named file that is missing, or one whose
    directory cannot be searched) is logged as a warning and the defaults stay in force;
    with ``strict`` (the daemon) it raises that ``ConfigError`` instead."""
    path, explicit = config_path(environ)
    try:
        exists = path.exists()
    except OSError:  # a directory on the way cannot be searched: reading it says so
        exists = True
    if not explicit and not exists:
        return PolicyConfig()
    try:
        return load_config(path)
    except ConfigError as error:
        if strict:
            raise
        log.warning("%s; using the default policy", error)
        return PolicyConfig()
    try:
        return load_config(path)
    except ConfigError as error:
        log.warning("%s; using the default policy", error)
        return PolicyConfig()
