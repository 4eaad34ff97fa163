"""The platform policy (docs/design.md, *Platform policy*): the interaction table, its
configuration, routing, and the arbiter that applies them — pure data and functions, no
threads, no clocks, no audio.

The embedded platform and the system daemon both run it: they tell an ``Arbiter`` what
happened (a session wants to play, went quiet, changed type, a device went away) and apply the
actions it returns (``SetState``, ``SetGain``, ``SetRoute``). See docs/policy.md.

One idea per module: ``table`` (the types, effects and default table), ``config``
(``PolicyConfig`` and its checks), ``config_file`` (``audiosession.toml``), ``routing``,
``actions`` (what the Arbiter answers) and ``arbiter``. Import from here.
"""

from audiosession.policy.actions import (
    Action,
    ArbiterRecord,
    SetGain,
    SetRoute,
    SetState,
)
from audiosession.policy.arbiter import (
    INTERRUPTION_KINDS,
    Arbiter,
    check_interruption_kind,
)
from audiosession.policy.config import ConfigError, PolicyConfig
from audiosession.policy.config_file import config_path, find_config, load_config
from audiosession.policy.routing import ROUTE_ROLES, default_output, route_for
from audiosession.policy.table import (
    CONCRETE_TYPES,
    DEFAULT_ROLES,
    DEFAULT_TABLE,
    MEDIA_ROLES,
    ROLE_TYPES,
    Effect,
    type_for_role,
)

__all__ = [
    "CONCRETE_TYPES",
    "DEFAULT_ROLES",
    "DEFAULT_TABLE",
    "INTERRUPTION_KINDS",
    "MEDIA_ROLES",
    "ROLE_TYPES",
    "ROUTE_ROLES",
    "Action",
    "Arbiter",
    "ArbiterRecord",
    "ConfigError",
    "Effect",
    "PolicyConfig",
    "SetGain",
    "SetRoute",
    "SetState",
    "check_interruption_kind",
    "config_path",
    "default_output",
    "find_config",
    "load_config",
    "route_for",
    "type_for_role",
]
