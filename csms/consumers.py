"""Events csms reacts to, each applied once through the inbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chargepark.clock import Clock, as_utc
from chargepark.db.tables import KernelTables
from chargepark.events.inbox import Consumer
from csms.authorization import Authorization, cache_upsert
from csms.repository import CsmsUnitOfWork


def build_consumer(uow: Any, tables: KernelTables, clock: Clock) -> Consumer[CsmsUnitOfWork]:
    async def id_token_changed(event: dict[str, Any], unit: CsmsUnitOfWork) -> None:
        # accounts said it: a blocked card is refused from now on, without waiting for a TTL.
        expires = event.get("expires_at")
        auth = Authorization(
            event["status"],
            event["customer_id"],
            as_utc(datetime.fromisoformat(expires.replace("Z", "+00:00"))) if expires else None,
        )
        await unit.session.execute(
            cache_upsert(unit.db.dialect, event["id_token"], auth, clock.now())
        )

    return Consumer(
        "csms", uow, tables.inbox, tables.dead_letters, {"IdTokenChanged": id_token_changed}
    )
