"""PortAudio's devices through ``sounddevice``: loading it, choosing the host API, and one
enumeration of its devices (what the backend and its device-watcher child process share)."""

from __future__ import annotations

import ctypes
from collections import Counter
from dataclasses import dataclass
from types import ModuleType

from ...backend import BackendUnavailableError, DeviceInfo

__all__ = ["PREFERRED_HOST_APIS", "Snapshot", "choose_host_api", "enumerate_devices"]

PREFERRED_HOST_APIS = ("Windows WASAPI", "Core Audio", "ALSA")
"""The host API used where PortAudio has it; else PortAudio's default one. WASAPI rather than
MME on Windows: full device names (MME cuts them at 31 characters) and lower latency."""

_WASAPI_HEADSET_FORM_FACTORS = frozenset({5, 6})
"""``PaWasapiDeviceRole`` values ``eRoleHeadset`` and ``eRoleHandset`` (pa_win_wasapi.h)."""


@dataclass(frozen=True)
class Snapshot:
    """The devices of one host API at one enumeration, and its default output and input."""

    devices: tuple[DeviceInfo, ...]
    default_output: str | None
    default_input: str | None


def load_sounddevice() -> ModuleType:
    """The ``sounddevice`` module; ``BackendUnavailableError`` saying what to install if not."""
    try:
        import sounddevice
    except ImportError as exc:
        raise BackendUnavailableError(
            "the portaudio backend needs the 'sounddevice' package (pip install sounddevice)"
        ) from exc
    except OSError as exc:  # sounddevice found no PortAudio library
        raise BackendUnavailableError(
            f"PortAudio could not be loaded ({exc}); install the libportaudio2 package"
        ) from exc
    return sounddevice


def choose_host_api(sd: ModuleType, wanted: str | None = None) -> str:
    """``wanted`` if PortAudio has that host API, else the first of ``PREFERRED_HOST_APIS`` it
    has, else its default one."""
    apis = sd.query_hostapis()
    names = [api["name"] for api in apis]
    if wanted is not None:
        if wanted not in names:
            raise BackendUnavailableError(f"PortAudio has no host API {wanted!r}; it has {names}")
        return wanted
    for name in PREFERRED_HOST_APIS:
        if name in names:
            return name
    if not names:
        raise BackendUnavailableError("PortAudio has no host API on this machine")
    return str(names[sd.default.hostapi])


def enumerate_devices(sd: ModuleType, host_api: str) -> tuple[Snapshot, dict[str, int]]:
    """The devices of ``host_api`` as PortAudio enumerated them at its last initialisation, and
    the PortAudio index of each device id.

    A device's id is its name (unique within a host API on ALSA; "name #2" for a second device
    of the same name elsewhere), so it stays the same across re-initialisations and can be
    written in ``audiosession.toml``. Outputs are listed first, then inputs.
    """
    apis = sd.query_hostapis()
    api = next(a for a in apis if a["name"] == host_api)
    every = sd.query_devices()
    counts = Counter(every[i]["name"] for i in api["devices"])
    seen: Counter[str] = Counter()
    ids: dict[str, int] = {}
    outputs: list[DeviceInfo] = []
    inputs: list[DeviceInfo] = []
    default_output = default_input = None
    for index in api["devices"]:
        info = every[index]
        name = str(info["name"])
        seen[name] += 1
        device_id = name if counts[name] == 1 else f"{name} #{seen[name]}"
        ids[device_id] = index
        roles = _wasapi_roles(sd, index) if host_api == "Windows WASAPI" else frozenset()
        if info["max_output_channels"] > 0:
            is_default = index == api["default_output_device"]
            outputs.append(DeviceInfo(device_id, name, "audiooutput", roles, is_default))
            default_output = device_id if is_default else default_output
        if info["max_input_channels"] > 0:
            is_default = index == api["default_input_device"]
            inputs.append(DeviceInfo(device_id, name, "audioinput", roles, is_default))
            default_input = device_id if is_default else default_input
    return Snapshot((*outputs, *inputs), default_output, default_input), ids


def _wasapi_roles(sd: ModuleType, index: int) -> frozenset[str]:
    """``{"phone"}`` for a WASAPI endpoint whose form factor is a headset or a handset: the one
    communications hint a PortAudio host API gives (``PaWasapi_GetDeviceRole``; not run on the
    project's Linux machines)."""
    try:
        get_role = ctypes.CDLL(sd._libname).PaWasapi_GetDeviceRole
    except (OSError, AttributeError):
        return frozenset()
    get_role.restype = ctypes.c_int
    get_role.argtypes = [ctypes.c_int]
    return frozenset({"phone"}) if get_role(index) in _WASAPI_HEADSET_FORM_FACTORS else frozenset()


def reinitialise_portaudio(sd: ModuleType) -> None:
    """Terminate and initialise PortAudio, so that it enumerates the devices afresh (and the
    ALSA configuration is read again). Every stream open in the process dies with it."""
    while sd._initialized > 0:
        sd._terminate()
    sd._initialize()
