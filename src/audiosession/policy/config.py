"""What the policy can be told (``PolicyConfig``), checked value by value: a bad one raises
``ConfigError`` naming the key and the values that would be right."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from audiosession.errors import AudioSessionError
from audiosession.policy.table import (
    CONCRETE_TYPES,
    DEFAULT_ROLES,
    DEFAULT_TABLE,
    Effect,
)
from audiosession.types import AudioSessionType


class ConfigError(AudioSessionError, ValueError):
    """A configuration file (or value) the policy cannot use; names the file, key and the
    values that would be right."""

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.key = key


MAX_RAMP = 10.0
"""The longest ramp or fade allowed, in seconds: catches milliseconds written where seconds
are meant."""


@dataclass(frozen=True, repr=False)
class PolicyConfig:
    """Everything the policy can be told: the table, duck level and ramps (seconds), the
    ``media.role`` of each type and the communications device.

    A ``table`` may give only some cells (keys may be type names and effect names as strings):
    the others keep their default. Invalid values raise ``ConfigError``.
    """

    table: Mapping[tuple[AudioSessionType, AudioSessionType], Effect] = field(
        default_factory=lambda: DEFAULT_TABLE
    )
    duck_gain: float = 0.2
    duck_attack: float = 0.1
    duck_release: float = 0.5
    stop_fade: float = 0.3
    roles: Mapping[AudioSessionType, str] = field(default_factory=lambda: DEFAULT_ROLES)
    communications_device: str | None = None

    def __post_init__(self) -> None:
        table = dict(DEFAULT_TABLE)
        for key, value in dict(self.table).items():
            if not isinstance(key, tuple) or len(key) != 2:
                raise ConfigError(f"table key must be a (new, existing) pair, not {key!r}")
            cell = (parse_type(key[0], "table"), parse_type(key[1], "table"))
            table[cell] = parse_effect(value, f"table {cell[0]}/{cell[1]}")
        object.__setattr__(self, "table", MappingProxyType(table))
        roles = dict(DEFAULT_ROLES)
        for type_name, role in dict(self.roles).items():
            if not isinstance(role, str) or not role:
                raise ConfigError(f"roles.{type_name}: must be a non-empty string, not {role!r}")
            roles[parse_type(type_name, "roles")] = role
        object.__setattr__(self, "roles", MappingProxyType(roles))
        check_number(self.duck_gain, "duck_gain", 0.0, 1.0, "a number from 0 to 1")
        for name in ("duck_attack", "duck_release", "stop_fade"):
            check_number(
                getattr(self, name), name, 0.0, MAX_RAMP, f"seconds, from 0 to {MAX_RAMP:g}"
            )
        device = self.communications_device
        if device is not None and (not isinstance(device, str) or not device):
            raise ConfigError(
                f"communications_device must be a non-empty device id or None, not {device!r}"
            )

    def __repr__(self) -> str:
        changed = {
            f"{new}/{existing}": str(effect)
            for (new, existing), effect in self.table.items()
            if DEFAULT_TABLE[(new, existing)] is not effect
        }
        roles = {str(t): r for t, r in self.roles.items() if DEFAULT_ROLES[t] != r}
        return (
            f"PolicyConfig(table changes={changed}, duck_gain={self.duck_gain}, "
            f"duck_attack={self.duck_attack}, duck_release={self.duck_release}, "
            f"stop_fade={self.stop_fade}, role changes={roles}, "
            f"communications_device={self.communications_device!r})"
        )

    def role(self, type: AudioSessionType | str) -> str:
        """The ``media.role`` for streams of a session of ``type``."""
        return self.roles[parse_type(type, "roles")]


def allowed_types() -> str:
    """The concrete type names, for error messages."""
    return ", ".join(t.value for t in CONCRETE_TYPES)


def allowed_effects() -> str:
    """The effect names, for error messages."""
    return ", ".join(e.value for e in Effect)


def parse_type(value: object, where: str) -> AudioSessionType:
    """``value`` as a concrete session type (a member or its name, never ``auto``), else a
    ``ConfigError`` saying ``where`` it was found and the allowed names."""
    if isinstance(value, AudioSessionType) and value is not AudioSessionType.AUTO:
        return value
    if isinstance(value, str):
        try:
            parsed = AudioSessionType(value)
        except ValueError:
            pass
        else:
            if parsed is not AudioSessionType.AUTO:
                return parsed
    raise ConfigError(f"{where}: unknown session type {value!r}; allowed: {allowed_types()}")


def parse_effect(value: object, where: str) -> Effect:
    """``value`` (an effect name) as an ``Effect``, else a ``ConfigError`` naming the allowed
    ones."""
    if isinstance(value, str):
        try:
            return Effect(value)
        except ValueError:
            pass
    raise ConfigError(f"{where}: unknown effect {value!r}; allowed: {allowed_effects()}")


def check_number(value: object, where: str, low: float, high: float, allowed: str) -> None:
    """A ``ConfigError`` unless ``value`` is a finite number (not a bool) from ``low`` to
    ``high``."""
    ok = (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and low <= value <= high
    )
    if not ok:
        raise ConfigError(f"{where} = {value!r} is out of range; allowed: {allowed}")
