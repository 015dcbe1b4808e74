"""Tariffs: seeded on the first start, created and versioned by operators."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from billing.domain.tariff import DEFAULT_TARIFF_ID, Tariff, UnknownTariff, standard_tariff
from billing.ports import BillingUnitOfWork
from chargepark.clock import Clock
from chargepark.errors import Conflict, Invalid


@dataclass(frozen=True, kw_only=True)
class TariffFields:
    """A tariff as an operator sends it (id and version are billing's to assign)."""

    name: str
    currency: str
    energy_minor_per_kwh: Decimal
    session_fee_minor: int
    parking_minor_per_period: int
    parking_period_minutes: int
    parking_grace_minutes: int
    parking_daily_cap_minor: int | None
    idle_minor_per_minute: int
    idle_after_minutes: int
    tax_percent: Decimal
    valid_from: datetime | None = None

    def version(self, tariff_id: str, version: int, valid_from: datetime) -> Tariff:
        return Tariff(
            id=tariff_id,
            version=version,
            name=self.name,
            currency=self.currency,
            energy_minor_per_kwh=self.energy_minor_per_kwh,
            session_fee_minor=self.session_fee_minor,
            parking_minor_per_period=self.parking_minor_per_period,
            parking_period_minutes=self.parking_period_minutes,
            parking_grace_minutes=self.parking_grace_minutes,
            parking_daily_cap_minor=self.parking_daily_cap_minor,
            idle_minor_per_minute=self.idle_minor_per_minute,
            idle_after_minutes=self.idle_after_minutes,
            tax_percent=self.tax_percent,
            valid_from=valid_from,
        )


class Tariffs:
    def __init__(self, uow: Callable[[], BillingUnitOfWork], clock: Clock) -> None:
        self.uow = uow
        self.clock = clock

    async def ensure_default_tariff(self) -> None:
        """Seed T_STD on the first start, so the platform bills out of the box."""
        async with self.uow() as uow:
            if await uow.tariffs.versions(DEFAULT_TARIFF_ID):
                return
            await uow.tariffs.add(standard_tariff(), self.clock.now())
            await uow.commit()

    async def tariffs(self) -> dict[str, list[Tariff]]:
        async with self.uow() as uow:
            return await uow.tariffs.all()

    async def tariff(self, tariff_id: str) -> list[Tariff]:
        async with self.uow() as uow:
            versions = await uow.tariffs.versions(tariff_id)
        if not versions:
            raise UnknownTariff(tariff_id)
        return versions

    async def create_tariff(self, tariff_id: str, fields: TariffFields) -> Tariff:
        now = self.clock.now()
        tariff = fields.version(tariff_id, 1, fields.valid_from or now)
        async with self.uow() as uow:
            by_id = await uow.tariffs.all()
            if tariff_id in by_id:
                raise Conflict(f"tariff {tariff_id} exists; PUT /tariffs/{tariff_id} to change it")
            check_currency(by_id, tariff)
            await uow.tariffs.add(tariff, now)
            await uow.commit()
        return tariff

    async def change_tariff(self, tariff_id: str, fields: TariffFields) -> Tariff:
        """A new version, valid from now (or a later `valid_from`): what was billed, or is being
        billed, under the versions before stays priced by them."""
        now = self.clock.now()
        valid_from = fields.valid_from or now
        if valid_from < now - timedelta(seconds=5):
            raise Invalid("valid_from is in the past: a tariff's past is fixed")
        async with self.uow() as uow:
            by_id = await uow.tariffs.all()
            versions = by_id.get(tariff_id)
            if not versions:
                raise UnknownTariff(tariff_id)
            tariff = fields.version(tariff_id, versions[-1].version + 1, valid_from)
            check_currency(by_id, tariff)
            await uow.tariffs.add(tariff, now)
            await uow.commit()
        return tariff


def check_currency(by_id: Mapping[str, Sequence[Tariff]], tariff: Tariff) -> None:
    others = {v[-1].currency for k, v in by_id.items() if k != tariff.id and v}
    if others and others != {tariff.currency}:
        raise Conflict(
            f"every tariff bills in one currency ({', '.join(sorted(others))}); "
            f"{tariff.currency} would mix currencies on one invoice"
        )
