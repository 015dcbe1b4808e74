"""The platform's settings: the kernel's (chargepark.config) plus each service's own section,
for a process that runs some of the five services."""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from billing.settings import BILLING, STRIPE
from chargepark.config import Settings, known_env_vars, read_settings
from chargepark.config.values import Section
from csms.settings import CSMS
from ops.settings import OPS

SERVICES: tuple[str, ...] = ("accounts", "csms", "parking", "billing", "ops")

# Where each service's REST app is mounted in the embedded process and at the gateway.
MOUNT_PREFIXES: Mapping[str, str] = MappingProxyType(
    {
        "accounts": "/accounts",
        "csms": "/charging",
        "parking": "/parking",
        "billing": "/billing",
        "ops": "/ops",
    }
)

# The services' own settings, read (and checked) at start-up in this order whatever the
# process runs: a bad value stops every process that shares the environment.
SECTIONS: tuple[Section[Any], ...] = (CSMS, BILLING, STRIPE, OPS)

KNOWN_ENV_VARS: frozenset[str] = known_env_vars(SERVICES, SECTIONS)


def load_settings(
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
    *,
    services: tuple[str, ...] = SERVICES,
    migrate_default: bool = True,
) -> Settings:
    """Build the settings of a process that runs `services`; raises ConfigError on bad input."""
    return read_settings(
        os.environ if env is None else env,
        flags,
        services=services,
        known_services=SERVICES,
        sections=SECTIONS,
        migrate_default=migrate_default,
    )
