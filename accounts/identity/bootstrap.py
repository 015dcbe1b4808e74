"""First start of the issuer: a signing key, and an API client to get the first tokens with.

With CHARGEPARK_BOOTSTRAP_CLIENT_ID/SECRET set, that client is made (or brought in line) with
every scope. Without them, a client is made once, when none exists, and its id and secret are
announced on the console: the secret is kept only as a hash, so that is the only time it shows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from accounts.identity.clients import ClientStore
from accounts.identity.keys import KeyStore
from accounts.identity.scopes import ALL_SCOPES
from chargepark.config import AuthSettings

log = logging.getLogger(__name__)

SERVICE_SCOPES = frozenset({"accounts:read"})


class IdentityBootstrap:
    def __init__(
        self,
        keys: KeyStore,
        clients: ClientStore,
        settings: AuthSettings,
        announce: Callable[[str], None],
    ) -> None:
        self.keys = keys
        self.clients = clients
        self.settings = settings
        self.announce = announce

    async def start(self) -> None:
        await self.keys.signer()
        await self._bootstrap_client()
        # The client other services use to call accounts (csms looking up id tokens).
        service_id = self.settings.service_client_id
        service_secret = self.settings.service_client_secret
        if service_id and service_secret:
            await self.clients.ensure(service_id, service_secret, SERVICE_SCOPES)

    async def _bootstrap_client(self) -> None:
        client_id, secret = self.settings.bootstrap_client_id, self.settings.bootstrap_client_secret
        if client_id and secret:
            if await self.clients.ensure(client_id, secret, frozenset(ALL_SCOPES)):
                log.info("bootstrap client set up", extra={"client_id": client_id})
            return
        if await self.clients.count() == 0:
            new = await self.clients.create("bootstrap", frozenset(ALL_SCOPES))
            log.info("bootstrap client created", extra={"client_id": new.client.client_id})
            self.announce(
                "An API client with every scope was created (shown once, keep the secret):\n"
                f"  client_id:     {new.client.client_id}\n"
                f"  client_secret: {new.secret}"
            )

    async def stop(self) -> None:
        return None
