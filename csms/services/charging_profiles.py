"""The operator's charging profiles per charger: stored, sent, and sent again when the charger
lost them (a 1.6 charger after every boot; a 2.0.1 charger when its own report lacks them).

A profile is checked against the rules and the charger's announced limits before it is
stored (Invalid -> 422), stored before it is sent (so a charger that is offline gets it at its
next boot), and its delivery state follows the charger's answer. Every send goes through the
gateway, so every profile sent is in the command log.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import replace
from datetime import datetime

from chargepark.clock import Clock
from chargepark.errors import NotFound
from csms.domain.charging_profiles import (
    UNKNOWN_LIMITS,
    ChargingProfile,
    Delivery,
    ProfileRefused,
    StoredProfile,
    check_against,
    delivery_of,
)
from csms.ports.gateway import ChargerGateway, CommandOutcome, CommandStatus
from csms.ports.smart_charging import OperatorProfileStore, SmartChargingReads

log = logging.getLogger(__name__)

REQUESTED_BY = "csms:charging-profiles"  # the command log's "who" for re-sends


class UnknownProfile(NotFound):
    pass


async def _offline(charger_id: str) -> str | None:
    return None


class ChargingProfiles:
    def __init__(
        self,
        store: OperatorProfileStore,
        reads: SmartChargingReads,
        gateway: ChargerGateway,
        clock: Clock,
        *,
        live_version: Callable[[str], Awaitable[str | None]] = _offline,
    ) -> None:
        self.store = store
        self.reads = reads
        self.gateway = gateway
        self.clock = clock
        self.live_version = live_version  # the charger's socket's version, on any node

    async def create(
        self, charger_id: str, profile: ChargingProfile, *, requested_by: str | None = None
    ) -> StoredProfile:
        """Checked, stored (profile_id 0: one is given), then sent if the charger is online."""
        limits = await self.reads.limits(charger_id) or UNKNOWN_LIMITS
        check_against(profile if profile.profile_id else replace(profile, profile_id=1), limits)
        existing = await self.store.of_charger(charger_id)  # UnknownCharger first
        others = [s for s in existing if s.profile.profile_id != profile.profile_id]
        if limits.max_profiles is not None and len(others) >= limits.max_profiles:
            raise ProfileRefused(
                f"this charger holds at most {limits.max_profiles} profiles; "
                f"{len(others)} are stored for it"
            )
        stored = await self.store.add(charger_id, profile, self.clock.now())
        version = await self.live_version(charger_id)
        if version is None or not self.gateway.speaks(version):
            return stored
        return await self._send(charger_id, version, stored.profile, requested_by)

    async def of_charger(self, charger_id: str) -> Sequence[StoredProfile]:
        return await self.store.of_charger(charger_id)

    async def delete(
        self, charger_id: str, profile_id: int, *, requested_by: str | None = None
    ) -> CommandOutcome | None:
        """Cleared on the charger when it is online (the outcome), then forgotten either way:
        a charger offline now that still holds it loses it at its next clear or reboot."""
        stored = await self.store.get(charger_id, profile_id)
        if stored is None:
            await self.store.of_charger(charger_id)  # UnknownCharger when that is why
            raise UnknownProfile(f"no profile {profile_id} for charger {charger_id!r}")
        outcome = None
        version = await self.live_version(charger_id)
        if version is not None and self.gateway.speaks(version):
            outcome = await self.gateway.clear_charging_profile(
                charger_id, version, profile_id=profile_id, requested_by=requested_by
            )
        await self.store.remove(charger_id, profile_id)
        return outcome

    async def resend(
        self,
        charger_id: str,
        version: str,
        *,
        held: Collection[int] | None = None,
        since: datetime | None = None,
    ) -> int:
        """Sends the stored profiles the charger does not hold (`held`: the ids it reported;
        None: it is taken to hold none, as a 1.6 charger after a boot), except those stored or
        settled after `since` (their creation sends them itself). Returns how many went out.
        One at a time, in id order: OCPP allows one CALL at a time anyway."""
        sent = 0
        for stored in await self.store.of_charger(charger_id):
            if held is not None and stored.profile.profile_id in held:
                continue
            if since is not None and stored.updated_at >= since:
                continue  # created (and sent) or settled since the charger came back
            if stored.delivery is Delivery.REJECTED:
                continue  # the charger said no once: the operator decides, not a retry loop
            settled = await self._send(charger_id, version, stored.profile, REQUESTED_BY)
            sent += 1
            if settled.delivery is Delivery.PENDING:
                break  # the charger went away: the rest waits for its next connection
        if sent:
            log.info("charging profiles sent again", extra={"charger_id": charger_id, "n": sent})
        return sent

    async def _send(
        self,
        charger_id: str,
        version: str,
        profile: ChargingProfile,
        requested_by: str | None,
    ) -> StoredProfile:
        outcome = await self.gateway.set_charging_profile(
            charger_id, version, profile, requested_by=requested_by
        )
        answer = (outcome.response or {}).get("status")
        delivery = delivery_of(outcome.status.value, answer)
        detail = None if delivery is Delivery.ACCEPTED else _why(outcome, answer)
        settled = await self.store.settle(
            charger_id, profile.profile_id, delivery, detail, self.clock.now()
        )
        if settled is None:  # deleted meanwhile
            return StoredProfile(charger_id, profile, delivery, detail, self.clock.now())
        return settled


def _why(outcome: CommandOutcome, answer: object) -> str:
    if outcome.status is CommandStatus.ANSWERED:
        info = (outcome.response or {}).get("statusInfo") or {}
        reason = info.get("reasonCode") if isinstance(info, dict) else None
        return f"the charger answered {answer}" + (f" ({reason})" if reason else "")
    if outcome.error is not None:
        return f"CALLERROR {outcome.error.code}: {outcome.error.description}"[:512]
    return outcome.detail or str(outcome.status)
