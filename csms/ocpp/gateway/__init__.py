"""The charger gateway over OCPP: version-free intent in, each version's payload out.

Floor plan of the outbound side:
- `csms/ports/gateway.py`: the `ChargerGateway` port the services call, the `CommandSender`
  port below it, and the outcome of a command;
- here: `OcppGateway` picks the version's payload builders (`v16.py`, `v201.py`), and
  `catalog.py` says which commands each version has and what a valid one looks like;
  `local.py` sends a CALL over a socket this process holds;
- `csms/adapters/command_routing.py`: to the csms node holding the socket, over the bus;
- `csms/adapters/recorded_commands.py` and `command_log.py`: the per-charger command log.

A later command is one method on the port and one builder per version module.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

from csms.domain.charging_profiles import (
    ChargingProfile,
    CompositeSchedule,
    ProfilePurpose,
    RateUnit,
)
from csms.ocpp.gateway import v16, v201
from csms.ports.gateway import (
    DEFAULT_TIMEOUT_SEC,
    CommandOutcome,
    CommandSender,
    StartCharging,
)

VERSIONS: dict[str, ModuleType] = {v16.VERSION: v16, v201.VERSION: v201}


class OcppGateway:
    """`ChargerGateway` over a `CommandSender` (recorded, routed, local in production)."""

    def __init__(self, sender: CommandSender) -> None:
        self.sender = sender

    def speaks(self, version: str | None) -> bool:
        return version in VERSIONS

    def id_token_limit(self, version: str) -> int:
        return int(VERSIONS[version].ID_TOKEN_MAX)

    async def start_charging(
        self,
        charger_id: str,
        version: str,
        start: StartCharging,
        *,
        requested_by: str | None = None,
    ) -> CommandOutcome:
        action, payload = VERSIONS[version].start_charging(start)
        return await self.sender.send(charger_id, action, payload, requested_by=requested_by)

    async def stop_charging(
        self,
        charger_id: str,
        version: str,
        transaction_id: str | None,
        *,
        requested_by: str | None = None,
    ) -> CommandOutcome:
        action, payload = VERSIONS[version].stop_charging(transaction_id)
        return await self.sender.send(charger_id, action, payload, requested_by=requested_by)

    async def set_charging_profile(
        self,
        charger_id: str,
        version: str,
        profile: ChargingProfile,
        *,
        requested_by: str | None = None,
    ) -> CommandOutcome:
        action, payload = VERSIONS[version].set_charging_profile(profile)
        return await self.sender.send(charger_id, action, payload, requested_by=requested_by)

    async def clear_charging_profile(
        self,
        charger_id: str,
        version: str,
        *,
        profile_id: int | None = None,
        evse_id: int | None = None,
        purpose: ProfilePurpose | None = None,
        stack_level: int | None = None,
        requested_by: str | None = None,
    ) -> CommandOutcome:
        action, payload = VERSIONS[version].clear_charging_profile(
            profile_id=profile_id, evse_id=evse_id, purpose=purpose, stack_level=stack_level
        )
        return await self.sender.send(charger_id, action, payload, requested_by=requested_by)

    async def get_composite_schedule(
        self,
        charger_id: str,
        version: str,
        *,
        evse_id: int,
        duration: int,
        unit: RateUnit | None = None,
        requested_by: str | None = None,
    ) -> CommandOutcome:
        action, payload = VERSIONS[version].get_composite_schedule(evse_id, duration, unit)
        return await self.sender.send(charger_id, action, payload, requested_by=requested_by)

    def composite_schedule(
        self, version: str, outcome: CommandOutcome, evse_id: int
    ) -> CompositeSchedule | None:
        if not outcome.answered or outcome.response is None:
            return None
        schedule: CompositeSchedule | None = VERSIONS[version].composite_schedule(
            outcome.response, evse_id
        )
        return schedule

    async def send(
        self,
        charger_id: str,
        action: str,
        payload: Mapping[str, Any],
        timeout_sec: float = DEFAULT_TIMEOUT_SEC,
        *,
        requested_by: str | None = None,
    ) -> CommandOutcome:
        return await self.sender.send(
            charger_id, action, payload, timeout_sec, requested_by=requested_by
        )
