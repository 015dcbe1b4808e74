"""csms's own settings: what it does with unknown chargers and id tokens, silent sockets, and
other csms nodes (CHARGEPARK_OCPP_UNKNOWN, _OCPP_OFFLINE_AUTH, _OCPP_SILENCE_TIMEOUT,
_CSMS_NODE_TIMEOUT). Where the OCPP endpoint listens (host, port, path, TLS) stays with the
kernel's settings: the CLI checks those ports before any service starts.

Read at start-up with the kernel's readers (chargepark.config.values); csms takes them with
`CSMS.of(settings)`.
"""

from __future__ import annotations

from dataclasses import dataclass

from chargepark.config.values import (
    Section,
    Source,
    choice,
    positive_int,
    seconds_between,
    whole_number,
)

# What the CSMS does with a charger id it has no registration for.
UNKNOWN_CHARGER_POLICIES = ("reject", "pending", "accept")


@dataclass(frozen=True)
class CsmsSettings:
    ocpp_unknown: str = "reject"
    ocpp_offline_auth: str = "reject"  # an unknown id token while accounts is unreachable
    # A charger silent (no OCPP frame) for longer than this has its socket closed (0: never).
    # Twice the heartbeat interval csms asks for (300 s), plus two minutes.
    ocpp_silence_timeout_sec: int = 720
    # A csms node whose heartbeat is older than this is taken for dead by the others.
    node_timeout_sec: int = 60
    # The energy manager's round: every tick, and at once when something changes.
    energy_tick_sec: float = 1.0
    # A charging car's stay when neither it, its driver nor the lot's history says (minutes).
    energy_default_stay_min: int = 180


def _csms(src: Source) -> CsmsSettings:
    return CsmsSettings(
        ocpp_unknown=choice(*src.get("CHARGEPARK_OCPP_UNKNOWN"), UNKNOWN_CHARGER_POLICIES),
        ocpp_offline_auth=choice(*src.get("CHARGEPARK_OCPP_OFFLINE_AUTH"), ("reject", "accept")),
        ocpp_silence_timeout_sec=whole_number(*src.get("CHARGEPARK_OCPP_SILENCE_TIMEOUT")),
        node_timeout_sec=positive_int(*src.get("CHARGEPARK_CSMS_NODE_TIMEOUT")),
        energy_tick_sec=seconds_between(0.1, 5.0, *src.get("CHARGEPARK_ENERGY_TICK")),
        energy_default_stay_min=positive_int(*src.get("CHARGEPARK_ENERGY_DEFAULT_STAY")),
    )


CSMS = Section(
    "csms",
    {
        "CHARGEPARK_OCPP_UNKNOWN": ("ocpp_unknown", "reject"),
        "CHARGEPARK_OCPP_OFFLINE_AUTH": ("ocpp_offline_auth", "reject"),
        "CHARGEPARK_OCPP_SILENCE_TIMEOUT": ("ocpp_silence_timeout", "720"),
        # This process among several of one service (csms nodes): see the kernel's NODE_ID.
        "CHARGEPARK_CSMS_NODE_TIMEOUT": ("csms_node_timeout", "60"),
        "CHARGEPARK_ENERGY_TICK": ("energy_tick", "1"),
        "CHARGEPARK_ENERGY_DEFAULT_STAY": ("energy_default_stay", "180"),
    },
    _csms,
    CsmsSettings,
)
