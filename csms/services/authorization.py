"""Authorizing id tokens (RFID cards, app tokens) for chargers: C01 Authorize.

accounts owns id tokens. csms keeps a cache fed two ways: IdTokenChanged events (so a blocked
card is refused without waiting for a TTL) and lookups on a miss or a stale entry. When accounts
is unreachable, a stale entry still answers (a known card keeps working through an outage);
a token never seen follows CHARGEPARK_OCPP_OFFLINE_AUTH.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from urllib.parse import quote

from chargepark.clock import Clock, parse_utc
from chargepark.events.contracts import RestReads
from chargepark.http.client import ServiceUnavailable
from csms.domain.authorization import Authorization
from csms.ports.authorization import IdTokenCache, IdTokenLookup

__all__ = ["ACCOUNTS_ID_TOKEN", "FRESH_FOR", "Authorization", "Authorizer", "IdTokenLookup"]

log = logging.getLogger(__name__)

FRESH_FOR = timedelta(minutes=5)


# What csms reads of accounts' answer to an id token lookup (tests/contract checks it against
# accounts' real answer).
ACCOUNTS_ID_TOKEN = RestReads(
    service="accounts",
    operation="GET /id-tokens/{id_token}",
    status=200,
    required=frozenset({"status"}),
    optional=frozenset({"customer_id", "expires_at"}),
)


class Authorizer:
    def __init__(
        self,
        cache: IdTokenCache,
        clock: Clock,
        accounts: IdTokenLookup | None,
        *,
        offline_policy: str = "reject",
    ) -> None:
        self.cache = cache
        self.clock = clock
        self.accounts = accounts
        self.offline_policy = offline_policy

    async def authorize(self, id_token: str) -> Authorization:
        now = self.clock.now()
        cached = await self.cache.get(id_token)
        if cached is not None and now - cached[1] < FRESH_FOR:
            return cached[0].at(now)
        try:
            fresh = await self._lookup(id_token)
        except ServiceUnavailable as exc:
            if cached is not None:
                log.warning(
                    "accounts unreachable; answering from a stale cache entry",
                    extra={"error": str(exc)},
                )
                return cached[0].at(now)
            log.warning(
                "accounts unreachable; unknown token under the offline policy",
                extra={"error": str(exc), "policy": self.offline_policy},
            )
            return Authorization("Accepted" if self.offline_policy == "accept" else "Unknown")
        await self.remember(id_token, fresh, now)
        return fresh.at(now)

    async def remember(self, id_token: str, auth: Authorization, at: datetime) -> None:
        await self.cache.put(id_token, auth, at)

    async def _lookup(self, id_token: str) -> Authorization:
        if self.accounts is None:
            raise ServiceUnavailable("no accounts service configured")
        status, body = await self.accounts.get_json(f"/id-tokens/{quote(id_token, safe='')}")
        if status == 404:
            return Authorization("Unknown")
        if status != 200 or not isinstance(body, dict):
            raise ServiceUnavailable(f"id token lookup answered {status}")
        expires = body.get("expires_at")
        return Authorization(
            body["status"], body.get("customer_id"), parse_utc(expires) if expires else None
        )
