"""The platform's REST API as an outside client sees it (aiohttp): a bearer token, JSON in
and out, problem+json errors raised as RestError.

Every call rides out an outage the platform itself survives (simulators/retry.py): a refused
or dropped connection, 408, 429 (after its `Retry-After`), 502, 503 and 504 are tried again
until the call's deadline. An idempotent call is simply sent again; a POST or PATCH that may
have been applied (the connection dropped after it was sent, a 502/503/504) is sent again only
after its `reconcile` has looked at the state and found that it was not.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp

from simulators.retry import (
    IDEMPOTENT_METHODS,
    NOT_APPLIED_STATUSES,
    TRANSIENT_STATUSES,
    Failure,
    RetryPolicy,
    RetryStats,
    reset,
    retry_after_seconds,
    within,
)

log = logging.getLogger("simulators.rest")
T = TypeVar("T")
# A state check before a non-idempotent call is sent again: the answer it would have had when
# the first try was applied, or None (not applied: send it again).
Reconcile = Callable[[], Awaitable[tuple[int, Any] | None]]


class RestError(Exception):
    """A call that failed: `status` 0 when no answer came (no connection). `transient` when it
    failed for a reason that passes (an outage), as opposed to the server's no."""

    def __init__(
        self, method: str, path: str, status: int, detail: str, *, transient: bool = False
    ) -> None:
        super().__init__(
            f"{method} {path}: {f'HTTP {status}' if status else 'no answer'}: {detail}"
        )
        self.method, self.path = method, path
        self.status = status
        self.detail = detail
        self.transient = transient


class _Transient(Exception):
    """One try failed in a way worth another (internal to the retry loop)."""

    def __init__(self, failure: Failure, error: RestError) -> None:
        super().__init__(str(error))
        self.failure, self.error = failure, error


class PlatformClient:
    """`base` is the platform's REST root (http://127.0.0.1:8080, or a gateway); each service
    is under its prefix (/accounts, /charging, /parking, /billing). Authenticates with a given
    `token`, or gets one (and renews it) with the client_credentials grant. `retry` says how
    long a call keeps trying through an outage (RetryPolicy(deadline=0): never); `stats`
    counts what was ridden out."""

    def __init__(
        self,
        base: str,
        *,
        token: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.base = base.rstrip("/")
        self._token = token
        self._client = (client_id, client_secret) if client_id and client_secret else None
        self._expires = float("inf") if token else 0.0
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._http: aiohttp.ClientSession | None = None
        self._lock = asyncio.Lock()
        self.retry = retry or RetryPolicy()
        self.stats = RetryStats()

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
            path = "/accounts/auth/token"
            # Asking for a token again has no effect worth guarding: it is retried blindly.
            _, body = await self._retrying(
                "POST", path, lambda: self._send("POST", path, ok=(200,), data=form), safe=True
            )
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
        idempotent: bool | None = None,
        reconcile: Reconcile | None = None,
    ) -> tuple[int, Any]:
        """`idempotent`: may be sent again whatever happened to the first try (default: by the
        method, RFC 9110 9.2.2). A non-idempotent call that may have been applied is sent
        again only with a `reconcile`, run before each new try."""
        assert self._http is not None, "use `async with PlatformClient(...)`"
        method = method.upper()
        safe = method in IDEMPOTENT_METHODS if idempotent is None else idempotent

        async def once() -> tuple[int, Any]:
            headers = {"Authorization": f"Bearer {await self.token()}"}
            return await self._send(method, path, ok=ok, json=body, params=params, headers=headers)

        return await self._retrying(method, path, once, safe=safe, reconcile=reconcile)

    async def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return (await self.request("GET", path, params=clean or None))[1]

    async def post(
        self,
        path: str,
        body: Any = None,
        ok: tuple[int, ...] = (200, 201),
        *,
        idempotent: bool | None = None,
        reconcile: Reconcile | None = None,
    ) -> Any:
        return (
            await self.request(
                "POST", path, body, ok=ok, idempotent=idempotent, reconcile=reconcile
            )
        )[1]

    async def _retrying(
        self,
        method: str,
        path: str,
        once: Callable[[], Awaitable[T]],
        *,
        safe: bool,
        reconcile: Reconcile | None = None,
    ) -> T:
        policy = self.retry
        started = policy.monotonic()
        ends = policy.ends_at()
        scope = within(ends)
        attempt, uncertain = 0, False
        try:
            while True:
                attempt += 1
                if uncertain and reconcile is not None:
                    found = await reconcile()
                    if found is not None:
                        self.stats.reconciled += 1
                        return found  # type: ignore[return-value]
                try:
                    return await once()
                except _Transient as failed:
                    failure, error = failed.failure, failed.error
                    if failure.maybe_applied and not safe and reconcile is None:
                        # It may have happened: never sent again blindly.
                        why = f"{error.detail} (may have been applied: not sent again)"
                        raise RestError(method, path, error.status, why, transient=True) from None
                    uncertain = uncertain or failure.maybe_applied
                    wait = policy.wait(attempt, failure)
                    if policy.monotonic() + wait > ends:
                        self.stats.gave_up += 1
                        spent = policy.monotonic() - started
                        why = f"{error.detail} (gave up after {attempt} tries in {spent:.0f} s)"
                        raise RestError(method, path, error.status, why, transient=True) from None
                    self.stats.retries[failure.cause] += 1
                    log.info("%s %s: %s; again in %.2f s", method, path, failure.cause, wait)
                    await policy.sleep(wait)
        finally:
            reset(scope)

    async def _send(
        self, method: str, path: str, *, ok: tuple[int, ...], **kw: Any
    ) -> tuple[int, Any]:
        assert self._http is not None, "use `async with PlatformClient(...)`"
        try:
            async with self._http.request(method, self.url(path), **kw) as r:
                text = await r.text()
                try:
                    data = await r.json(content_type=None) if text else None
                except ValueError:
                    data = text
                if r.status in ok:
                    return r.status, data
                if r.status in TRANSIENT_STATUSES:
                    wait = retry_after_seconds(r.headers.get("Retry-After"), self.retry.wall())
                    failure = Failure(
                        f"HTTP {r.status}", r.status not in NOT_APPLIED_STATUSES, wait
                    )
                    error = RestError(method, path, r.status, _detail(data), transient=True)
                    raise _Transient(failure, error)
                raise RestError(method, path, r.status, _detail(data))
        except aiohttp.ClientConnectorError as exc:
            # No connection was made: the request never left, whatever the method.
            cause = (
                "connection refused"
                if isinstance(exc.os_error, ConnectionRefusedError)
                else "cannot connect"
            )
            raise _Transient(
                Failure(cause, maybe_applied=False),
                RestError(method, path, 0, f"{cause}: {exc}", transient=True),
            ) from None
        except (
            aiohttp.ServerDisconnectedError,
            aiohttp.ClientOSError,
            aiohttp.ClientPayloadError,
        ) as exc:
            # Sent (or partly sent), and the connection went before the answer came.
            cause = (
                "connection reset"
                if isinstance(exc, aiohttp.ClientOSError)
                else "connection dropped"
            )
            raise _Transient(
                Failure(cause, maybe_applied=True),
                RestError(method, path, 0, f"{cause}: {exc or type(exc).__name__}", transient=True),
            ) from None
        except TimeoutError:
            raise _Transient(
                Failure("timeout", maybe_applied=True),
                RestError(
                    method, path, 0, f"no answer within {self._timeout.total:g} s", transient=True
                ),
            ) from None


def _detail(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("error_description") or body.get("title") or body)
    return str(body)[:300]
