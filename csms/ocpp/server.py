"""The OCPP-J WebSocket endpoint: `ws://HOST:PORT/ocpp/{charge_point_id}`.

The handshake picks the newest OCPP version both sides speak (ocpp2.0.1, then ocpp1.6) and
refuses a client that offers neither, or a path that names no charge point.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
from urllib.parse import unquote

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from chargepark.errors import ConfigError
from chargepark.net import bind_error
from csms.ocpp import v16, v201

log = logging.getLogger(__name__)

SUBPROTOCOLS = ("ocpp2.0.1", "ocpp1.6")  # newest first: the preference order
_MAX_ID_LEN = 48  # OCPP 2.0.1 identity is at most 48 characters


class OcppServer:
    def __init__(self, host: str, port: int, path_prefix: str = "/ocpp") -> None:
        self.host = host
        self.port = port
        self.prefix = path_prefix.rstrip("/") + "/"
        self._server: Server | None = None

    async def start(self) -> None:
        try:
            self._server = await serve(
                self._handle,
                self.host,
                self.port,
                process_request=self._check_request,
                select_subprotocol=_select_subprotocol,
                subprotocols=list(SUBPROTOCOLS),
                max_size=64 * 1024,  # the largest legitimate frames (reports) fit well within
                compression=None,
            )
        except OSError as exc:
            raise ConfigError(bind_error("OCPP", self.host, self.port, exc)) from None

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), timeout=5)
            self._server = None

    def charge_point_id(self, path: str) -> str | None:
        if not path.startswith(self.prefix):
            return None
        cp_id = unquote(path[len(self.prefix) :].split("?", 1)[0])
        if not cp_id or "/" in cp_id or len(cp_id) > _MAX_ID_LEN:
            return None
        return cp_id

    def _check_request(self, conn: ServerConnection, request: Request) -> Response | None:
        if self.charge_point_id(request.path) is None:
            return _refuse(
                http.HTTPStatus.NOT_FOUND, f"connect to {self.prefix}{{charge_point_id}}\n"
            )
        offered = _offered(request.headers)
        if not any(p in offered for p in SUBPROTOCOLS):
            return _refuse(
                http.HTTPStatus.BAD_REQUEST,
                "offer one of the subprotocols: " + ", ".join(SUBPROTOCOLS) + "\n",
            )
        return None

    async def _handle(self, conn: ServerConnection) -> None:
        assert conn.request is not None
        cp_id = self.charge_point_id(conn.request.path)
        assert cp_id is not None
        adapter = v201.ChargePoint if conn.subprotocol == "ocpp2.0.1" else v16.ChargePoint
        charge_point = adapter(cp_id, conn)
        log.info("charger connected", extra={"charger_id": cp_id, "ocpp": conn.subprotocol})
        try:
            await charge_point.start()
        except Exception as exc:  # a closed socket ends the session; nothing else to do
            log.info("charger disconnected", extra={"charger_id": cp_id, "reason": str(exc)})


def _offered(headers: Headers) -> list[str]:
    return [p.strip() for v in headers.get_all("Sec-WebSocket-Protocol") for p in v.split(",")]


def _select_subprotocol(conn: ServerConnection, offered: list[str]) -> str | None:
    return next((p for p in SUBPROTOCOLS if p in offered), None)


def _refuse(status: http.HTTPStatus, text: str) -> Response:
    return Response(
        status.value,
        status.phrase,
        Headers([("Content-Type", "text/plain; charset=utf-8")]),
        text.encode(),
    )
