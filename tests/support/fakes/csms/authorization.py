"""The id token cache in memory, and accounts answering from a dict."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chargepark.http.client import ServiceUnavailable
from csms.domain.authorization import Authorization


class InMemoryIdTokenCache:
    def __init__(self) -> None:
        self.entries: dict[str, tuple[Authorization, datetime]] = {}

    async def get(self, id_token: str) -> tuple[Authorization, datetime] | None:
        return self.entries.get(id_token)

    async def put(self, id_token: str, auth: Authorization, at: datetime) -> None:
        self.entries[id_token] = (auth, at)


class FakeAccounts:
    """Answers /id-tokens/{token} from a dict; `down` makes it unreachable."""

    def __init__(self, tokens: dict[str, dict[str, Any]]) -> None:
        self.tokens = tokens
        self.down = False
        self.calls = 0

    async def get_json(self, path: str) -> tuple[int, Any]:
        self.calls += 1
        if self.down:
            raise ServiceUnavailable("accounts is down (test)")
        token = path.rsplit("/", 1)[1]
        if token not in self.tokens:
            return 404, {"status": 404}
        return 200, {"id_token": token, **self.tokens[token]}
