"""The webhook sender: POSTs an incident change to the configured URL over HTTP."""

from __future__ import annotations

import aiohttp

from chargepark import tracing


class HttpWebhookSender:
    """POSTs a JSON body; True when the receiver answered 2xx."""

    def __init__(self, timeout: float = 5.0) -> None:
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def send(self, url: str, body: str, headers: dict[str, str]) -> tuple[bool, str]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        attributes = {"http.method": "POST", "http.request.method": "POST"}
        attributes["url.full"] = url.split("?", 1)[0]  # never the query (it may carry a key)
        with tracing.client_span("POST", attributes) as span:
            sent = {"Content-Type": "application/json", **headers}
            tracing.inject(sent)  # the receiver may continue the trace
            try:
                async with self._session.post(url, data=body.encode(), headers=sent) as r:
                    await r.read()
                    if span is not None:
                        span.set_attribute("http.status_code", r.status)
                    return 200 <= r.status < 300, f"HTTP {r.status}"
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                tracing.set_error(f"{type(exc).__name__}: {exc}")
                return False, f"{type(exc).__name__}: {exc}"[:500]

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
