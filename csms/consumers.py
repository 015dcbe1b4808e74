"""Events csms reacts to, each applied once through the inbox."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chargepark.clock import Clock, parse_utc
from chargepark.db.tables import KernelTables
from chargepark.events.contracts import reads
from chargepark.events.inbox import Consumer
from csms.adapters.energy_store import SqlLotLayouts
from csms.adapters.id_token_cache import UnitIdTokenCache
from csms.adapters.parked_vehicles import SqlParkedVehicles
from csms.adapters.repository import CsmsUnitOfWork
from csms.domain.authorization import Authorization
from csms.ports.authorization import IdTokenCache
from csms.ports.energy import Bay, LotLayouts
from csms.ports.parked_vehicles import BayStay, ParkedVehicles

# The id token cache and the vehicles on bays, in the transaction of the event's unit of work.
Tokens = Callable[[CsmsUnitOfWork], IdTokenCache]
Stays = Callable[[CsmsUnitOfWork], ParkedVehicles]
Layouts = Callable[[CsmsUnitOfWork], LotLayouts]


def build_consumer(
    uow: Any,
    tables: KernelTables,
    clock: Clock,
    *,
    tokens: Tokens = UnitIdTokenCache,
    stays: Stays = SqlParkedVehicles,
    layouts: Layouts = SqlLotLayouts,
) -> Consumer[CsmsUnitOfWork]:
    async def id_token_changed(event: dict[str, Any], unit: CsmsUnitOfWork) -> None:
        await token_changed(event, tokens(unit), clock)

    async def vehicle_parked(event: dict[str, Any], unit: CsmsUnitOfWork) -> None:
        await parked(event, stays(unit))

    async def vehicle_left(event: dict[str, Any], unit: CsmsUnitOfWork) -> None:
        await left(event, stays(unit))

    async def lot_bays_changed(event: dict[str, Any], unit: CsmsUnitOfWork) -> None:
        await bays_changed(event, layouts(unit))

    return Consumer(
        "csms",
        uow,
        tables.inbox,
        tables.dead_letters,
        {
            "IdTokenChanged": id_token_changed,
            "VehicleParked": vehicle_parked,
            "VehicleLeft": vehicle_left,
            "LotBaysChanged": lot_bays_changed,
        },
        reads=READS,
        retries=tables.event_retries,
    )


# What csms reads of each event (tests/contract checks it against the producers).
READS = {
    "IdTokenChanged": reads(["id_token", "customer_id", "status"], ["expires_at"]),
    "VehicleParked": reads(
        ["lot_id", "regnum", "slot_ui"], ["charger_id", "connector_id", "departure_at"]
    ),
    "VehicleLeft": reads(
        ["lot_id", "regnum", "slot_ui", "arrived_at"], ["charger_id", "connector_id"]
    ),
    "LotBaysChanged": reads(["lot_id", "bays"], []),
}


async def token_changed(event: dict[str, Any], cache: IdTokenCache, clock: Clock) -> None:
    """accounts said it: a blocked card is refused from now on, without waiting for a TTL."""
    expires = event.get("expires_at")
    auth = Authorization(
        event["status"], event["customer_id"], parse_utc(expires) if expires else None
    )
    await cache.put(event["id_token"], auth, clock.now())


async def parked(event: dict[str, Any], stays: ParkedVehicles) -> None:
    """A vehicle took an EV bay: sessions on its charger get its regnum. The stay is keyed by
    (lot, regnum, arrival), so a VehicleLeft that overtook this event is not undone by it."""
    charger_id = event.get("charger_id")
    if not charger_id:
        return  # not an EV bay
    stay = BayStay(
        lot_id=event["lot_id"],
        regnum=event["regnum"],
        arrived_at=parse_utc(event["ts"]),
        slot_ui=event["slot_ui"],
        charger_id=charger_id,
        evse_id=event.get("connector_id"),
        departure_at=parse_utc(departure) if (departure := event.get("departure_at")) else None,
    )
    if not await stays.arrived(stay):
        return  # it has left already
    # A session that began before the park event reached us (a plate camera recorded late,
    # or the driver plugged in first) is the vehicle's too.
    await stays.tag_sessions(charger_id, stay.evse_id, stay.regnum)


async def left(event: dict[str, Any], stays: ParkedVehicles) -> None:
    stay = BayStay(
        lot_id=event["lot_id"],
        regnum=event["regnum"],
        arrived_at=parse_utc(event["arrived_at"]),
        slot_ui=event["slot_ui"],
        charger_id=event.get("charger_id"),
        evse_id=event.get("connector_id"),
        left_at=parse_utc(event["ts"]),
    )
    await stays.left(stay)


async def bays_changed(event: dict[str, Any], layouts: LotLayouts) -> None:
    """A lot's EV bays, whole: its chargers are the energy manager's site's (the site id is the
    lot id). An older layout arriving late changes nothing."""
    bays = [Bay(b["slot_ui"], b["charger_id"], b.get("connector_id")) for b in event["bays"]]
    await layouts.replace(event["lot_id"], parse_utc(event["ts"]), bays)
