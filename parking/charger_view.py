"""SQL of the EV bays' live view: what csms last said of each charger connector, session and
meter, kept by parking's consumers (parking/consumers.py) in the inbox's unit of work.

Every write is an upsert that keeps the newest: a status older than the one kept changes
nothing, a close that overtook its start is completed by the start, not undone by it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

from chargepark.db.uow import UnitOfWork
from parking.ports import ChargerStatus, EnergyReading, SessionClosed, SessionStarted
from parking.store import charging_sessions, connector_status, energy_readings


class SqlChargerView:
    def __init__(self, unit: UnitOfWork) -> None:
        self.unit = unit

    def _insert(self, table: Any) -> Any:
        return (postgresql if self.unit.db.dialect == "postgresql" else sqlite).insert(table)

    async def status_changed(self, status: ChargerStatus) -> None:
        insert = self._insert(connector_status)
        row = {
            "charger_id": status.charger_id,
            "evse_id": status.evse_id,
            "status": status.status,
            "error_code": status.error_code,
            "status_at": status.at,
        }
        statement = insert.values(row).on_conflict_do_update(
            index_elements=["charger_id", "evse_id"],
            set_={k: insert.excluded[k] for k in ("status", "error_code", "status_at")},
            where=insert.excluded.status_at > connector_status.c.status_at,
        )
        await self.unit.session.execute(statement)

    async def session_started(self, started: SessionStarted) -> None:
        insert = self._insert(charging_sessions)
        row = {
            "session_id": started.session_id,
            "charger_id": started.charger_id,
            "evse_id": started.evse_id,
            "started_at": started.started_at,
            "meter_start_wh": started.meter_start_wh,
            "regnum": started.regnum,
        }
        # Leaves ended_at alone: a close that arrived first stays closed.
        statement = insert.values(row).on_conflict_do_update(
            index_elements=["session_id"],
            set_={k: insert.excluded[k] for k in ("started_at", "meter_start_wh", "regnum")},
        )
        await self.unit.session.execute(statement)

    async def session_closed(self, closed: SessionClosed) -> None:
        insert = self._insert(charging_sessions)
        row = {
            "session_id": closed.session_id,
            "charger_id": closed.charger_id,
            "evse_id": closed.evse_id,
            "started_at": closed.started_at,
            "regnum": closed.regnum,
            "ended_at": closed.ended_at,
            "energy_wh": closed.energy_wh,
            "kwh": closed.kwh,
        }
        statement = insert.values(row).on_conflict_do_update(
            index_elements=["session_id"],
            set_={k: insert.excluded[k] for k in ("ended_at", "energy_wh", "kwh")},
        )
        await self.unit.session.execute(statement)

    async def energy_read(self, readings: list[EnergyReading]) -> None:
        insert = self._insert(energy_readings)
        statement = insert.on_conflict_do_update(
            index_elements=["charger_id", "evse_id"],
            set_={k: insert.excluded[k] for k in ("energy_wh", "read_at")},
            where=insert.excluded.read_at > energy_readings.c.read_at,
        )
        rows = [
            {
                "charger_id": r.charger_id,
                "evse_id": r.evse_id,
                "energy_wh": r.energy_wh,
                "read_at": r.read_at,
            }
            for r in readings
        ]
        await self.unit.session.execute(statement, rows)
