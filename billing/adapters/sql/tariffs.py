"""Tariffs in SQL: versioned rows, never edited once written."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from billing.adapters.sql.base import SqlRepository
from billing.domain.tariff import Tariff
from billing.store import tariffs
from chargepark.clock import as_utc
from chargepark.errors import Conflict


def tariff_of_row(row: Any) -> Tariff:
    return Tariff(
        id=row.id,
        version=row.version,
        name=row.name,
        currency=row.currency,
        energy_minor_per_kwh=Decimal(row.energy_minor_per_kwh),
        session_fee_minor=row.session_fee_minor,
        parking_minor_per_period=row.parking_minor_per_period,
        parking_period_minutes=row.parking_period_minutes,
        parking_grace_minutes=row.parking_grace_minutes,
        parking_daily_cap_minor=row.parking_daily_cap_minor,
        idle_minor_per_minute=row.idle_minor_per_minute,
        idle_after_minutes=row.idle_after_minutes,
        tax_percent=Decimal(row.tax_percent),
        valid_from=as_utc(row.valid_from),
    )


class SqlTariffs(SqlRepository):
    async def versions(self, tariff_id: str) -> list[Tariff]:
        rows = await self.session.execute(
            select(tariffs).where(tariffs.c.id == tariff_id).order_by(tariffs.c.version)
        )
        return [tariff_of_row(r) for r in rows]

    async def all(self) -> dict[str, list[Tariff]]:
        found: dict[str, list[Tariff]] = {}
        rows = await self.session.execute(select(tariffs).order_by(tariffs.c.id, tariffs.c.version))
        for r in rows:
            found.setdefault(r.id, []).append(tariff_of_row(r))
        return found

    async def add(self, tariff: Tariff, now: datetime) -> None:
        t = tariff
        row = {
            "id": t.id,
            "version": t.version,
            "name": t.name,
            "currency": t.currency,
            "energy_minor_per_kwh": str(t.energy_minor_per_kwh),
            "session_fee_minor": t.session_fee_minor,
            "parking_minor_per_period": t.parking_minor_per_period,
            "parking_period_minutes": t.parking_period_minutes,
            "parking_grace_minutes": t.parking_grace_minutes,
            "parking_daily_cap_minor": t.parking_daily_cap_minor,
            "idle_minor_per_minute": t.idle_minor_per_minute,
            "idle_after_minutes": t.idle_after_minutes,
            "tax_percent": str(t.tax_percent),
            "valid_from": t.valid_from,
            "created_at": now,
        }
        try:
            async with self.session.begin_nested():
                await self.session.execute(insert(tariffs), row)
        except IntegrityError:
            raise Conflict(f"tariff {t.id} version {t.version} exists already; try again") from None
