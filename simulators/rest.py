"""The platform's REST API as an outside client sees it (aiohttp): a bearer token, JSON in
and out, problem+json errors raised as RestError."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp


class RestError(Exception):
    def __init__(self, method: str, path: str, status: int, detail: str) -> None:
        super().__init__(f"{method} {path}: HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


class PlatformClient:
    """`base` is the platform's REST root (http://127.0.0.1:8080, or a gateway); each service
    is under its prefix (/accounts, /charging, /parking, /billing). Authenticates with a given
    `token`, or gets one (and renews it) with the client_credentials grant."""

    def __init__(
        self,
        base: str,
        *,
        token: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.base = base.rstrip("/")
        self._token = token
        self._client = (client_id, client_secret) if client_id and client_secret else None
        self._expires = float("inf") if token else 0.0
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._http: aiohttp.ClientSession | None = None
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> PlatformClient:
        self._http = aiohttp.ClientSession(timeout=self._timeout)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def url(self, path: str) -> str:
        return self.base + path

    async def token(self) -> str:
        async with self._lock:
            if self._token is not None and time.monotonic() < self._expires:
                return self._token
            if self._client is None:
                if self._token is not None:
                    return self._token
                raise RestError("POST", "/accounts/auth/token", 0, "no token and no API client")
            form = {
                "grant_type": "client_credentials",
                "client_id": self._client[0],
                "client_secret": self._client[1],
            }
            assert self._http is not None
            async with self._http.post(self.url("/accounts/auth/token"), data=form) as r:
                body = await r.json(content_type=None)
                if r.status != 200:
                    raise RestError("POST", "/accounts/auth/token", r.status, _detail(body))
            self._token = body["access_token"]
            self._expires = time.monotonic() + max(30, int(body.get("expires_in", 300)) - 30)
            return self._token

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        ok: tuple[int, ...] = (200, 201, 202, 204),
        params: dict[str, Any] | None = None,
    ) -> tuple[int, Any]:
        assert self._http is not None, "use `async with PlatformClient(...)`"
        headers = {"Authorization": f"Bearer {await self.token()}"}
        async with self._http.request(
            method, self.url(path), json=body, headers=headers, params=params
        ) as r:
            text = await r.text()
            try:
                data = await r.json(content_type=None) if text else None
            except ValueError:
                data = text
            if r.status not in ok:
                raise RestError(method, path, r.status, _detail(data))
            return r.status, data

    async def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return (await self.request("GET", path, params=clean or None))[1]

    async def post(self, path: str, body: Any = None, ok: tuple[int, ...] = (200, 201)) -> Any:
        return (await self.request("POST", path, body, ok=ok))[1]


def _detail(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("error_description") or body.get("title") or body)
    return str(body)[:300]
