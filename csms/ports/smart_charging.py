"""What csms knows of each charger's smart charging: its limits (read at boot), the external
limits and the ISO 15118 car's needs it reports (2.0.1), the profiles it says it holds, and
the operator's profiles csms keeps for it.

`SmartChargingReads` is what the energy manager reads; the rest is written by the OCPP edge
and the operator profile use case.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from csms.domain.charging_profiles import (
    ChargingProfile,
    Delivery,
    EvChargingNeeds,
    ExternalLimit,
    SmartChargingLimits,
    StoredProfile,
)


class SmartChargingReads(Protocol):
    async def limits(self, charger_id: str) -> SmartChargingLimits | None:
        """What the charger said it can hold; None: not read yet (never booted since, or it
        did not answer)."""
        ...

    async def ev_needs(self, charger_id: str, evse_id: int) -> EvChargingNeeds | None:
        """The newest NotifyEVChargingNeeds of that EVSE, if any (cleared when a new one
        comes; a car that left keeps its row until the next car's)."""
        ...

    async def external_limits(self, charger_id: str) -> Sequence[ExternalLimit]:
        """The limits the charger reported from elsewhere and has not cleared."""
        ...


class SmartChargingStore(SmartChargingReads, Protocol):
    async def save_limits(
        self, charger_id: str, limits: SmartChargingLimits, at: datetime
    ) -> None: ...

    async def save_ev_needs(
        self, charger_id: str, needs: EvChargingNeeds, raw: dict[str, Any]
    ) -> None: ...

    async def save_ev_schedule(
        self, charger_id: str, evse_id: int, schedule: dict[str, Any], at: datetime
    ) -> None: ...

    async def save_external_limit(
        self, charger_id: str, limit: ExternalLimit, schedule: Any
    ) -> None: ...

    async def clear_external_limit(self, charger_id: str, source: str, evse_id: int | None) -> None:
        """evse_id None: that source's limits on every EVSE."""
        ...

    async def save_installed(
        self,
        charger_id: str,
        request_id: int,
        source: str,
        profiles: Sequence[ChargingProfile],
        at: datetime,
    ) -> None:
        """Profiles a 2.0.1 charger reports it holds (ReportChargingProfiles); a report under
        a new request id replaces what earlier requests said."""
        ...

    async def forget_installed(self, charger_id: str) -> None:
        """The charger said it holds none (GetChargingProfiles: NoProfiles)."""
        ...

    async def installed(self, charger_id: str) -> Sequence[ChargingProfile]: ...


class OperatorProfileStore(Protocol):
    async def add(self, charger_id: str, profile: ChargingProfile, at: datetime) -> StoredProfile:
        """Stored as pending (replacing one of the same id); UnknownCharger if no such
        charger. profile_id 0: the next free operator profile id is given."""
        ...

    async def settle(
        self, charger_id: str, profile_id: int, delivery: Delivery, detail: str | None, at: datetime
    ) -> StoredProfile | None: ...

    async def get(self, charger_id: str, profile_id: int) -> StoredProfile | None: ...

    async def of_charger(self, charger_id: str) -> Sequence[StoredProfile]:
        """UnknownCharger if no such charger."""
        ...

    async def remove(self, charger_id: str, profile_id: int) -> bool: ...
