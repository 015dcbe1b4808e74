"""The parking service's tables. Only this package reads or writes them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from chargepark.db.columns import BIG_ID as _BigId
from chargepark.db.columns import UTC_TIMESTAMP as _TS
from chargepark.db.metadata import service_metadata
from chargepark.db.tables import kernel_tables

metadata = service_metadata()
kernel = kernel_tables(metadata)


lots = Table(
    "lots",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("ev_bays_for_ice", Boolean, nullable=False),
    Column("created_at", _TS, nullable=False),
    Column("updated_at", _TS, nullable=False),
)

# A slot and the vehicle in it now (regnum null: free). One row per slot is what makes a double
# booking impossible; unique (lot, regnum) keeps a vehicle to one slot per lot.
slots = Table(
    "slots",
    metadata,
    Column("lot_id", String(32), ForeignKey("lots.id"), primary_key=True),
    Column("slot_ui", Integer, primary_key=True),
    Column("level", String(32), nullable=False),
    Column("level_rank", Integer, nullable=False),  # 0 = lowest: allocation prefers it
    Column("fits", String(16), nullable=False),  # CAR | MOTORCYCLE | VAN
    Column("ev_bay", Boolean, nullable=False),
    Column("charger_id", String(48), nullable=True),
    Column("connector_id", Integer, nullable=True),  # 1.6 connectorId = 2.0.1 EVSE id
    Column("in_service", Boolean, nullable=False),
    Column("regnum", String(16), nullable=True),
    Column("kind", String(16), nullable=True),  # the parked vehicle's
    Column("fuel", String(8), nullable=True),
    Column("since", _TS, nullable=True),  # the park event's time
    UniqueConstraint("lot_id", "regnum"),
    # A charger's connector is one bay, wherever it is (NULLs, regular slots, never collide).
    UniqueConstraint("charger_id", "connector_id"),
)
# Allocation walks only the free slots in service, nearest first: finding one costs the same
# in an empty lot and in one with a single slot left.
_FREE = slots.c.regnum.is_(None) & slots.c.in_service.is_(True)
Index(
    "ix_slots_free",
    slots.c.lot_id,
    slots.c.fits,
    slots.c.ev_bay,
    slots.c.level_rank,
    slots.c.slot_ui,
    postgresql_where=_FREE,
    sqlite_where=_FREE,
)
# The finders (parking/finders.py): a vehicle in any lot. (A lot's vehicles by kind and fuel
# walk the lot's slots in primary-key order: a lot has at most a few thousand, and one index
# fewer to keep up at every park and leave.)
_PARKED = slots.c.regnum.is_not(None)
Index("ix_slots_parked_vehicle", slots.c.regnum, postgresql_where=_PARKED, sqlite_where=_PARKED)

# Every park and leave, as it happened (the seed's events_occupancy). `ts` is the event's time,
# `recorded_at` when it reached us; a leave carries its arrival and duration.
events_occupancy = Table(
    "events_occupancy",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("lot_id", String(32), nullable=False),
    Column("action", String(8), nullable=False),  # PARK | LEAVE
    Column("ts", _TS, nullable=False),
    Column("slot_ui", Integer, nullable=False),
    Column("level", String(32), nullable=False),
    Column("regnum", String(16), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("fuel", String(8), nullable=False),
    Column("ev_bay", Boolean, nullable=False),
    Column("charger_id", String(48), nullable=True),
    Column("connector_id", Integer, nullable=True),
    Column("arrived_at", _TS, nullable=True),
    Column("duration_sec", Integer, nullable=True),
    Column("recorded_at", _TS, nullable=False),
)
Index("ix_events_occupancy_lot_ts", events_occupancy.c.lot_id, events_occupancy.c.ts)
Index(
    "ix_events_occupancy_vehicle",
    events_occupancy.c.lot_id,
    events_occupancy.c.regnum,
    events_occupancy.c.id,
)

# --- what csms tells us, for the EV bays' live view (events in; newest wins per key) ----------

connector_status = Table(
    "connector_status",
    metadata,
    Column("charger_id", String(48), primary_key=True),
    Column("evse_id", Integer, primary_key=True),  # 0: the whole charger
    Column("status", String(16), nullable=False),
    Column("error_code", String(128), nullable=True),
    Column("status_at", _TS, nullable=False),  # the event's time: an older report is ignored
)

charging_sessions = Table(
    "charging_sessions",
    metadata,
    Column("session_id", String(128), primary_key=True),
    Column("charger_id", String(48), nullable=False),
    Column("evse_id", Integer, nullable=False),
    Column("started_at", _TS, nullable=True),  # null: the close arrived before the start
    Column("meter_start_wh", BigInteger, nullable=True),
    Column("regnum", String(16), nullable=True),
    Column("ended_at", _TS, nullable=True),
    Column("energy_wh", BigInteger, nullable=True),  # at the close
    Column("kwh", String(32), nullable=True),  # at the close, exact
)
Index("ix_charging_sessions_bay", charging_sessions.c.charger_id, charging_sessions.c.evse_id)

energy_readings = Table(
    "energy_readings",
    metadata,
    Column("charger_id", String(48), primary_key=True),
    Column("evse_id", Integer, primary_key=True),
    Column("energy_wh", BigInteger, nullable=False),  # the newest Energy.Active.Import.Register
    Column("read_at", _TS, nullable=False),
)
