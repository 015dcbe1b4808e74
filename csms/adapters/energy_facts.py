"""What csms knows of a charger's smart charging when nothing better is wired: every charger
is taken as able to hold profiles, with no limits announced, no car needs and no external
limit. A charger that cannot is found out by its first refusal (and counted at its rating)."""

from __future__ import annotations

from collections.abc import Sequence

from csms.domain.charging_profiles import (
    UNKNOWN_LIMITS,
    EvChargingNeeds,
    ExternalLimit,
    SmartChargingLimits,
)


class AssumedSmartCharging:
    async def limits(self, charger_id: str) -> SmartChargingLimits | None:
        return UNKNOWN_LIMITS

    async def ev_needs(self, charger_id: str, evse_id: int) -> EvChargingNeeds | None:
        return None

    async def external_limits(self, charger_id: str) -> Sequence[ExternalLimit]:
        return ()
