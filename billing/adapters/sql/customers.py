"""Billing's projection of accounts in SQL. `changed_at` is the event's time: an older event
never overwrites a newer one."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select, update

from billing.adapters.sql.base import SqlRepository
from billing.store import customer_tokens, customer_vehicles, customers


class SqlCustomers(SqlRepository):
    async def seen(self, customer_id: str, at: datetime) -> None:
        insert_ = self.upsert(customers)
        await self.session.execute(
            insert_.values(customer_id=customer_id, created_at=at).on_conflict_do_nothing()
        )

    async def link_vehicle(self, regnum: str, customer_id: str | None, at: datetime) -> None:
        """Newest event wins; an unlink leaves a tombstone (customer null) so a link that
        arrives after it but happened before it cannot revive the link."""
        insert_ = self.upsert(customer_vehicles)
        statement = insert_.values(regnum=regnum, customer_id=customer_id, changed_at=at)
        statement = statement.on_conflict_do_update(
            index_elements=["regnum"],
            set_={"customer_id": insert_.excluded.customer_id, "changed_at": at},
            where=insert_.excluded.changed_at > customer_vehicles.c.changed_at,
        )
        await self.session.execute(statement)

    async def unlink_vehicle(self, regnum: str, customer_id: str, at: datetime) -> None:
        row = (
            await self.session.execute(
                select(customer_vehicles).where(customer_vehicles.c.regnum == regnum)
            )
        ).first()
        if row is not None and row.customer_id not in (customer_id, None):
            return  # the vehicle is someone else's now: not this unlink's to undo
        await self.link_vehicle(regnum, None, at)

    async def put_token(self, id_token: str, customer_id: str, status: str, at: datetime) -> None:
        insert_ = self.upsert(customer_tokens)
        statement = insert_.values(
            id_token=id_token, customer_id=customer_id, status=status, changed_at=at
        ).on_conflict_do_update(
            index_elements=["id_token"],
            set_={
                "customer_id": insert_.excluded.customer_id,
                "status": insert_.excluded.status,
                "changed_at": at,
            },
            where=insert_.excluded.changed_at > customer_tokens.c.changed_at,
        )
        await self.session.execute(statement)

    async def of_tokens(self, tokens: Iterable[str]) -> str | None:
        for token in tokens:
            query = select(customer_tokens.c.customer_id).where(customer_tokens.c.id_token == token)
            found = (await self.session.execute(query)).scalar()
            if found is not None:
                return str(found)
        return None

    async def of_regnums(self, regnums: Iterable[str]) -> str | None:
        for regnum in regnums:
            query = select(customer_vehicles.c.customer_id).where(
                customer_vehicles.c.regnum == regnum
            )
            found = (await self.session.execute(query)).scalar()
            if found is not None:
                return str(found)
        return None

    async def provider_customer_id(self, customer_id: str) -> str | None:
        query = select(customers.c.provider_customer_id).where(
            customers.c.customer_id == customer_id
        )
        found = (await self.session.execute(query)).scalar()
        return None if found is None else str(found)

    async def set_provider_customer_id(self, customer_id: str, pcid: str, at: datetime) -> None:
        await self.seen(customer_id, at)
        await self.session.execute(
            update(customers)
            .where(customers.c.customer_id == customer_id)
            .values(provider_customer_id=pcid)
        )
