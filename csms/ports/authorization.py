"""What authorizing id tokens depends on: csms's cache of accounts' answers, and accounts."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from csms.domain.authorization import Authorization


class IdTokenCache(Protocol):
    async def get(self, id_token: str) -> tuple[Authorization, datetime] | None:
        """The cached answer and when it was fetched, if the token was ever seen."""
        ...

    async def put(self, id_token: str, auth: Authorization, at: datetime) -> None:
        """Insert or replace the token's entry, fetched at `at`."""
        ...


class IdTokenLookup(Protocol):
    """accounts' REST API (a ServiceClient): raises ServiceUnavailable when it cannot answer."""

    async def get_json(self, path: str) -> tuple[int, Any]: ...
