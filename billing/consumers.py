"""Events billing consumes, each applied once through the inbox.

Parking's stays and csms's sessions become the facts visits are assembled from (see
billing.domain.visits: any order, any repeat, gives the same visits); accounts' events keep
billing's projection of who a vehicle or an id token belongs to (the newest event wins).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from billing.adapters.sql import SqlBillingUnitOfWork
from billing.domain.visits import session_of_event, stay_of_event
from billing.ports import BillingUnitOfWork
from billing.services.visits import apply_session, apply_stay
from chargepark.clock import parse_utc
from chargepark.db.tables import KernelTables
from chargepark.events.contracts import reads
from chargepark.events.inbox import Consumer


def build_consumer(
    uow: Callable[[], SqlBillingUnitOfWork], tables: KernelTables
) -> Consumer[SqlBillingUnitOfWork]:
    return Consumer(
        "billing",
        uow,
        tables.inbox,
        tables.dead_letters,
        HANDLERS,
        reads=READS,
        retries=tables.event_retries,
    )


async def stay_event(event: dict[str, Any], uow: BillingUnitOfWork) -> None:
    await apply_stay(uow, stay_of_event(event))


async def session_event(event: dict[str, Any], uow: BillingUnitOfWork) -> None:
    await apply_session(uow, session_of_event(event))


async def customer_created(event: dict[str, Any], uow: BillingUnitOfWork) -> None:
    await uow.customers.seen(event["customer_id"], parse_utc(event["ts"]))


async def vehicle_linked(event: dict[str, Any], uow: BillingUnitOfWork) -> None:
    at = parse_utc(event["ts"])
    await uow.customers.seen(event["customer_id"], at)
    await uow.customers.link_vehicle(event["regnum"], event["customer_id"], at)


async def vehicle_unlinked(event: dict[str, Any], uow: BillingUnitOfWork) -> None:
    await uow.customers.unlink_vehicle(
        event["regnum"], event["customer_id"], parse_utc(event["ts"])
    )


async def id_token_changed(event: dict[str, Any], uow: BillingUnitOfWork) -> None:
    # A blocked or expired token still names who used it: kept whatever its status.
    at = parse_utc(event["ts"])
    await uow.customers.seen(event["customer_id"], at)
    await uow.customers.put_token(event["id_token"], event["customer_id"], event["status"], at)


HANDLERS = {
    "VehicleParked": stay_event,
    "VehicleLeft": stay_event,
    "ChargingSessionStarted": session_event,
    "ChargingSessionClosed": session_event,
    "CustomerCreated": customer_created,
    "VehicleLinked": vehicle_linked,
    "VehicleUnlinked": vehicle_unlinked,
    "IdTokenChanged": id_token_changed,
}


_STAY = ["charger_id", "connector_id", "level", "slot_ui"]
_WHO = ["customer_id", "id_token", "regnum", "tariff_id"]
_SESSION = ["session_id", "charger_id", "evse_id", "connector_id", "started_at"]
# What billing reads of each event (tests/contract checks it against the producers).
READS = {
    "VehicleParked": reads(["lot_id", "regnum"], _STAY),
    "VehicleLeft": reads(["lot_id", "regnum", "arrived_at"], _STAY),
    "ChargingSessionStarted": reads(_SESSION, _WHO),
    "ChargingSessionClosed": reads([*_SESSION, "ended_at", "kwh", "energy_wh"], [*_WHO, "reason"]),
    "CustomerCreated": reads(["customer_id"]),
    "VehicleLinked": reads(["customer_id", "regnum"]),
    "VehicleUnlinked": reads(["customer_id", "regnum"]),
    "IdTokenChanged": reads(["customer_id", "id_token", "status"]),
}
