"""A charger gateway that sends nothing: it records each intent and answers what a test set."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from csms.domain.charging_profiles import (
    ChargingProfile,
    CompositeSchedule,
    ProfilePurpose,
    RateUnit,
)
from csms.ports.gateway import (
    DEFAULT_TIMEOUT_SEC,
    CommandOutcome,
    CommandStatus,
    StartCharging,
)

ID_TOKEN_LIMITS = {"1.6": 20, "2.0.1": 36}


class FakeGateway:
    """`sent` lists (charger_id, what, details) per call: ("start", version, StartCharging),
    ("stop", version, transaction_id), ("set_profile", version, ChargingProfile),
    ("clear_profile", version, criteria dict), ("composite", version, criteria dict) or
    (action, payload, requested_by). `outcome` is the answer to the next calls (default: an
    Accepted answer); `outcomes`, when set, answers per charger id first."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Any, Any]] = []
        self.outcome: CommandOutcome | None = None
        self.outcomes: dict[str, CommandOutcome] = {}
        self.schedule: CompositeSchedule | None = None  # what composite_schedule reads

    def speaks(self, version: str | None) -> bool:
        return version in ID_TOKEN_LIMITS

    def id_token_limit(self, version: str) -> int:
        return ID_TOKEN_LIMITS[version]

    async def start_charging(
        self,
        charger_id: str,
        version: str,
        start: StartCharging,
        *,
        requested_by: str | None = None,
    ) -> CommandOutcome:
        self.sent.append((charger_id, "start", version, start))
        return self._answer("start", charger_id)

    async def stop_charging(
        self,
        charger_id: str,
        version: str,
        transaction_id: str | None,
        *,
        requested_by: str | None = None,
    ) -> CommandOutcome:
        self.sent.append((charger_id, "stop", version, transaction_id))
        return self._answer("stop", charger_id)

    async def set_charging_profile(
        self,
        charger_id: str,
        version: str,
        profile: ChargingProfile,
        *,
        requested_by: str | None = None,
    ) -> CommandOutcome:
        self.sent.append((charger_id, "set_profile", version, profile))
        return self._answer("SetChargingProfile", charger_id)

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
        criteria = {
            "profile_id": profile_id,
            "evse_id": evse_id,
            "purpose": purpose,
            "stack_level": stack_level,
        }
        self.sent.append((charger_id, "clear_profile", version, criteria))
        return self._answer("ClearChargingProfile", charger_id)

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
        criteria = {"evse_id": evse_id, "duration": duration, "unit": unit}
        self.sent.append((charger_id, "composite", version, criteria))
        return self._answer("GetCompositeSchedule", charger_id)

    def composite_schedule(
        self, version: str, outcome: CommandOutcome, evse_id: int
    ) -> CompositeSchedule | None:
        """`schedule` (set by a test) for an answered outcome."""
        return self.schedule if outcome.answered else None

    async def send(
        self,
        charger_id: str,
        action: str,
        payload: Mapping[str, Any],
        timeout_sec: float = DEFAULT_TIMEOUT_SEC,
        *,
        requested_by: str | None = None,
    ) -> CommandOutcome:
        self.sent.append((charger_id, action, dict(payload), requested_by))
        return self._answer(action, charger_id)

    def _answer(self, action: str, charger_id: str = "") -> CommandOutcome:
        return (
            self.outcomes.get(charger_id)
            or self.outcome
            or CommandOutcome(CommandStatus.ANSWERED, action, response={"status": "Accepted"})
        )


class RecordingSender:
    """A `CommandSender` that records each CALL it is given: (charger_id, action, payload)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []
        self.outcome: CommandOutcome | None = None

    async def send(
        self,
        charger_id: str,
        action: str,
        payload: Mapping[str, Any],
        timeout_sec: float = DEFAULT_TIMEOUT_SEC,
        *,
        requested_by: str | None = None,
    ) -> CommandOutcome:
        self.sent.append((charger_id, action, dict(payload)))
        return self.outcome or CommandOutcome(
            CommandStatus.ANSWERED, action, response={"status": "Accepted"}
        )
