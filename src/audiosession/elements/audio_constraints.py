"""The web's audio constraints of a microphone track (``MediaTrackConstraints``):
``echoCancellation``, ``noiseSuppression`` and ``autoGainControl``, in camelCase or
snake_case, each a bool or ``{"exact": bool}`` / ``{"ideal": bool}``, true unless asked
otherwise, as ``getUserMedia({audio: true})`` has them."""

from __future__ import annotations

from typing import Any

from audiosession.engine.voice_processing import VoiceProcessing

PROCESSING_CONSTRAINTS = {
    "echo_cancellation": "echoCancellation",
    "noise_suppression": "noiseSuppression",
    "auto_gain_control": "autoGainControl",
}
"""Each processing constraint's snake_case name and the web's."""


def processing_constraints(audio: Any) -> dict[str, bool]:
    """The processing constraints ``audio`` (True, or a dict of constraints) sets, by their
    snake_case names; ``TypeError`` for a value that is not a bool or a ConstrainBoolean."""
    if not isinstance(audio, dict):
        return {}
    asked: dict[str, bool] = {}
    for name, web_name in PROCESSING_CONSTRAINTS.items():
        for key in (name, web_name):
            if key in audio:
                if name in asked:
                    raise TypeError(f"audio constraints name {name!r} twice ({web_name!r} too)")
                asked[name] = _constrain_boolean(key, audio[key])
    return asked


def processing_of(audio: Any, base: VoiceProcessing | None = None) -> VoiceProcessing:
    """The processing ``audio`` asks for, over ``base`` (the web's defaults: all on)."""
    return (base or VoiceProcessing()).with_changes(**processing_constraints(audio))


def _constrain_boolean(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((kind, flag),) = value.items()
        if kind in ("exact", "ideal") and isinstance(flag, bool):
            return flag
    raise TypeError(
        f"the {key!r} constraint must be True, False, {{'exact': bool}} or {{'ideal': bool}}, "
        f"not {value!r}"
    )
