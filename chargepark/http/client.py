"""Calling another service's REST API as an API client (OAuth2 client_credentials).

The token is fetched from accounts when first needed, reused until shortly before it expires,
and fetched again once if a call answers 401. Failures to reach the other service raise
ServiceUnavailable, so callers can fall back (a stale cache) instead of failing. With tracing on,
each request is a CLIENT span and carries the W3C `traceparent` header.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from chargepark import tracing


class ServiceUnavailable(Exception):
    """The other service could not be reached or answered 5xx."""


class ServiceClient:
    def __init__(
        self,
        base_url: str,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        timeout: float = 3.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._token: str | None = None
        self._token_until = 0.0
        self._lock = asyncio.Lock()

    async def get_json(self, path: str) -> tuple[int, Any]:
        """(status, JSON body or None). 4xx are answers; unreachable or 5xx raise."""
        for attempt in (1, 2):
            token = await self._bearer(refresh=attempt == 2)
            with tracing.client_span("GET", self._span_attributes("GET", path)) as span:
                headers = {"Authorization": f"Bearer {token}"}
                tracing.inject(headers)
                try:
                    async with self._http().get(self.base_url + path, headers=headers) as r:
                        if span is not None:
                            span.set_attribute("http.status_code", r.status)
                        if r.status == 401 and attempt == 1:
                            continue
                        if r.status >= 500:
                            raise ServiceUnavailable(f"{path}: HTTP {r.status}")
                        body = await r.json(content_type=None) if r.content_length != 0 else None
                        return r.status, body
                except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                    raise ServiceUnavailable(f"{path}: {exc}") from exc
        raise ServiceUnavailable(f"{path}: not authorized with a fresh token")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _span_attributes(self, method: str, path: str | None) -> dict[str, str]:
        # The path, never the query or the URL's credentials; the token endpoint by its URL.
        url = self.base_url + path.split("?", 1)[0] if path is not None else self.token_url
        return {"http.method": method, "http.request.method": method, "url.full": url}

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def _bearer(self, *, refresh: bool) -> str:
        async with self._lock:
            if refresh or self._token is None or time.monotonic() > self._token_until:
                form = {
                    "grant_type": "client_credentials",
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                }
                try:
                    with tracing.client_span("POST", self._span_attributes("POST", None)):
                        headers: dict[str, str] = {}
                        tracing.inject(headers)
                        async with self._http().post(
                            self.token_url, data=form, headers=headers
                        ) as r:
                            if r.status != 200:
                                raise ServiceUnavailable(f"token endpoint answered {r.status}")
                            body = await r.json()
                except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                    raise ServiceUnavailable(f"token endpoint: {exc}") from exc
                self._token = body["access_token"]
                # Renew a little early, so a token never expires in flight.
                self._token_until = time.monotonic() + max(0, int(body["expires_in"]) - 30)
            assert self._token is not None
            return self._token
