"""Routing: which output device a session's streams go to, by its type (docs/policy.md)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING

from audiosession.policy.config import PolicyConfig, parse_type
from audiosession.policy.table import PLAY_AND_RECORD
from audiosession.types import AudioSessionType

if TYPE_CHECKING:
    from audiosession.engine.backend import DeviceInfo

ROUTE_ROLES: Mapping[AudioSessionType, str] = MappingProxyType(
    {
        PLAY_AND_RECORD: "phone",
    }
)
"""Types that prefer a device by intended role (after ``communications_device``); the other
types go to the default output."""


def default_output(devices: Iterable[DeviceInfo]) -> str | None:
    """The id of the default output device: the one marked default, else the first output,
    else None."""
    first: str | None = None
    for device in devices:
        if device.kind != "audiooutput":
            continue
        if device.is_default:
            return device.id
        if first is None:
            first = device.id
    return first


def route_for(
    type: AudioSessionType | str, devices: Sequence[DeviceInfo], config: PolicyConfig
) -> str | None:
    """The output device id for a session of ``type``: ``play-and-record`` goes to the
    configured communications device if present, else the first output whose intended roles
    include "phone", else the default output; every other type goes to the default output."""
    role = ROUTE_ROLES.get(parse_type(type, "route_for"))
    if role is not None:
        outputs = [d for d in devices if d.kind == "audiooutput"]
        wanted = config.communications_device
        if wanted is not None and any(d.id == wanted for d in outputs):
            return wanted
        for device in outputs:
            if role in device.intended_roles:
                return device.id
    return default_output(devices)
