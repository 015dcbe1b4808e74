"""The OCPP-J WebSocket endpoint: `ws://HOST:PORT/ocpp/{charge_point_id}`.

The handshake picks the newest OCPP version both sides speak (ocpp2.0.1, then ocpp1.6), refuses
a client that offers neither or a path that names no charger, and applies security profile 1/2:
a charger registered with a password must send it as HTTP Basic (username = its id), else 401.
An id with no registration follows CHARGEPARK_OCPP_UNKNOWN. A second connection for one id
replaces the first: never two live sockets for one charger.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import email.utils
import gc
import http
import json
import logging
import ssl
from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import unquote

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from chargepark.clock import Clock
from chargepark.config import OcppTls
from chargepark.db.group_commit import GroupCommitWriter, Overloaded
from chargepark.errors import ConfigError
from chargepark.net import bind_error
from csms.adapters.presence import Presence
from csms.ocpp import v16, v201
from csms.ocpp.smart_charging import SmartChargingEdge
from csms.services.authorization import Authorizer
from csms.services.chargers import Admission, ChargingService
from csms.services.sessions import SessionService

log = logging.getLogger(__name__)

SUBPROTOCOLS = (Subprotocol("ocpp2.0.1"), Subprotocol("ocpp1.6"))  # newest first: preference
ADAPTERS: dict[str, type[v16.ChargePoint] | type[v201.ChargePoint]] = {
    "ocpp2.0.1": v201.ChargePoint,
    "ocpp1.6": v16.ChargePoint,
}
_MAX_ID_LEN = 48  # OCPP 2.0.1 identity is at most 48 characters
FLUSH_SEEN_SEC = 10.0
# The kernel caps it at net.core.somaxconn (4,096 by default); asyncio's default of 100 turned
# a boot storm's connection attempts away, each charger then retrying after seconds.
LISTEN_BACKLOG = 4096
# Young objects collected after 10,000 net allocations rather than 700, full collections rarely.
# Measured in a 10,000-charger boot storm: with the defaults the collector took 38% of the CPU
# in full collections of up to 535 ms; with these and `gc.freeze`, 12% and at most 78 ms. Larger
# young generations made longer pauses (docs/performance.md).
GC_THRESHOLDS = (10_000, 10, 100)


class OcppServer:
    def __init__(
        self,
        host: str,
        port: int,
        path_prefix: str,
        *,
        service: ChargingService,
        authorizer: Authorizer,
        transactions: SessionService,
        samples: GroupCommitWriter,
        notifications: GroupCommitWriter,
        presence: Presence,
        clock: Clock,
        tls: OcppTls | None = None,
        smart_charging: SmartChargingEdge | None = None,
    ) -> None:
        self.notifications = notifications
        self.smart_charging = smart_charging
        self.transactions = transactions
        self.samples = samples
        self.tls = tls
        self.authorizer = authorizer
        self.host = host
        self.port = port
        self.prefix = path_prefix.rstrip("/") + "/"
        self.service = service
        self.presence = presence
        self.clock = clock
        self._servers: list[Server] = []
        self._flusher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._servers.append(await self._listen(self.port, None))
        if self.tls is not None:
            # Security profile 2: the same endpoint over TLS (1.2 or newer, as the OCPP
            # security whitepaper requires), Basic auth inside it.
            self._servers.append(await self._listen(self.tls.port, _tls_context(self.tls)))
        self._flusher = asyncio.create_task(self._flush_seen_forever(), name="ocpp-seen-flush")
        tune_gc()

    async def _listen(self, port: int, tls: ssl.SSLContext | None) -> Server:
        try:
            return await serve(
                self._handle,
                self.host,
                port,
                process_request=self._check_request,
                select_subprotocol=_select_subprotocol,
                subprotocols=list(SUBPROTOCOLS),
                max_size=64 * 1024,  # the largest legitimate frames (reports) fit well within
                compression=None,
                ssl=tls,
                create_connection=_ProblemConnection,
                backlog=LISTEN_BACKLOG,
            )
        except OSError as exc:
            what = "OCPP TLS" if tls else "OCPP"
            raise ConfigError(bind_error(what, self.host, port, exc)) from None

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        for server in self._servers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), timeout=5)
        self._servers = []
        if self.smart_charging is not None:
            await self.smart_charging.close()
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        await self._flush_seen()
        await self.service.close()
        await self.samples.close()
        await self.notifications.close()

    def charge_point_id(self, path: str) -> str | None:
        if not path.startswith(self.prefix):
            return None
        cp_id = unquote(path[len(self.prefix) :].split("?", 1)[0])
        if not cp_id or "/" in cp_id or len(cp_id) > _MAX_ID_LEN:
            return None
        return cp_id

    async def _check_request(self, conn: ServerConnection, request: Request) -> Response | None:
        cp_id = self.charge_point_id(request.path)
        if cp_id is None:
            return _refuse(
                http.HTTPStatus.NOT_FOUND, f"connect to {self.prefix}{{charge_point_id}}"
            )
        offered = _offered(request.headers)
        if not any(p in offered for p in SUBPROTOCOLS):
            return _refuse(
                http.HTTPStatus.BAD_REQUEST,
                "offer one of the subprotocols: " + ", ".join(SUBPROTOCOLS),
            )
        try:
            admission = await self.service.admit(cp_id, _basic_password(request.headers, cp_id))
        except Overloaded:  # too many handshakes waiting for the registry: come back later
            return _refuse(
                http.HTTPStatus.SERVICE_UNAVAILABLE, "overloaded", [("Retry-After", "10")]
            )
        if admission is Admission.UNAUTHORIZED:
            log.warning(
                "charger authentication failed",
                extra={
                    "security_event": "InvalidChargingStationCredentials",
                    "charger_id": cp_id,
                    "remote": _remote(conn),
                },
            )
            return _refuse(
                http.HTTPStatus.UNAUTHORIZED,
                "wrong or missing credentials",
                [("WWW-Authenticate", 'Basic realm="chargepark-ocpp"')],
            )
        if admission is Admission.UNKNOWN_REJECT:
            log.warning(
                "unknown charger refused", extra={"charger_id": cp_id, "remote": _remote(conn)}
            )
            return _refuse(http.HTTPStatus.NOT_FOUND, "unknown charge point")
        return None

    async def _handle(self, conn: ServerConnection) -> None:
        assert conn.request is not None and conn.subprotocol is not None
        cp_id = self.charge_point_id(conn.request.path)
        assert cp_id is not None
        version = str(conn.subprotocol)
        replaced = self.presence.connected(cp_id, conn, version, self.clock.now())
        self.service.connected(cp_id)
        if replaced is not None:
            log.info("charger reconnected; the older socket is closed", extra={"charger_id": cp_id})
            await replaced.close(code=1000, reason="replaced by a newer connection")
        charge_point = ADAPTERS[version](
            cp_id,
            conn,
            service=self.service,
            authorizer=self.authorizer,
            transactions=self.transactions,
            samples=self.samples,
            notifications=self.notifications,
            presence=self.presence,
            clock=self.clock,
            ocpp_version=version.removeprefix("ocpp"),
            smart_charging=self.smart_charging,
        )
        self.presence.attach(cp_id, conn, charge_point)
        log.info("charger connected", extra={"charger_id": cp_id, "ocpp": version})
        try:
            await charge_point.start()
        except Exception as exc:  # a closed socket ends the session; nothing else to do
            log.info("charger disconnected", extra={"charger_id": cp_id, "reason": str(exc)})
        finally:
            self.presence.disconnected(cp_id, conn)
            if self.presence.get(cp_id) is None:  # not replaced by a newer socket
                self.service.disconnected(cp_id)

    async def close_silent(self, silence: timedelta) -> int:
        """Closes the socket of every charger that sent no frame for longer than `silence`;
        returns how many. A charger's heartbeats stop being sent when its OCPP software hangs,
        while its network stack still answers WebSocket pings: closed, it is reported Offline
        (as any closed socket is), and a charger that is well after all connects again."""
        silent = self.presence.silent(self.clock.now() - silence)
        for charger_id, _connection in silent:
            log.warning(
                "charger silent; its socket is closed",
                extra={"charger_id": charger_id, "silence_sec": silence.total_seconds()},
            )
        reason = f"no OCPP message for {int(silence.total_seconds())} s"
        await asyncio.gather(
            *(conn.close(code=1000, reason=reason) for _, conn in silent), return_exceptions=True
        )
        return len(silent)

    async def _flush_seen_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SEEN_SEC)
            try:
                await self._flush_seen()
            except Exception:
                log.exception("flushing last-seen times failed; retried next round")

    async def _flush_seen(self) -> None:
        await self.service.record_seen(self.presence.drain())


def tune_gc() -> None:
    """Once started: what exists now (modules, schemas, compiled statements) lives as long as
    the process, so move it out of the collector's sight (`gc.freeze`): every collection of
    the oldest generation walked all of it. And collect young objects less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _tls_context(tls: OcppTls) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"CHARGEPARK_OCPP_TLS_CERT/KEY: cannot load them ({exc})") from None
    return context


def _basic_password(headers: Headers, charger_id: str) -> str | None:
    kind, _, encoded = headers.get("Authorization", "").partition(" ")
    if kind.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return password if sep and user == charger_id else None


def _offered(headers: Headers) -> list[str]:
    return [p.strip() for v in headers.get_all("Sec-WebSocket-Protocol") for p in v.split(",")]


def _select_subprotocol(
    conn: ServerConnection, offered: Sequence[Subprotocol]
) -> Subprotocol | None:
    return next((p for p in SUBPROTOCOLS if p in offered), None)


def _remote(conn: ServerConnection) -> str:
    try:
        return str(conn.remote_address[0])
    except (TypeError, IndexError):
        return "unknown"


def _refuse(
    status: http.HTTPStatus, text: str, extra: list[tuple[str, str]] | None = None
) -> Response:
    """A refused handshake, as problem+json (RFC 9457) like every HTTP error of ours."""
    body = json.dumps(
        {"type": "about:blank", "title": status.phrase, "status": status.value, "detail": text}
    ).encode()
    headers = Headers(
        [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Length", str(len(body))),
            ("Content-Type", "application/problem+json"),
            *(extra or []),
        ]
    )
    return Response(status.value, status.phrase, headers, body)


def _reject(status: http.HTTPStatus | int, text: str) -> Response:
    return _refuse(http.HTTPStatus(status), text.strip())


class _ProblemConnection(ServerConnection):
    """The library's own refusals (a request line or header too long, no Upgrade header, the
    server shutting down) are made by its protocol's `reject`: answered in our form too."""

    def __init__(self, protocol: ServerProtocol, *args: Any, **kwargs: Any) -> None:
        protocol.reject = _reject  # type: ignore[method-assign]
        super().__init__(protocol, *args, **kwargs)
