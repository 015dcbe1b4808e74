"""The charger's link to the CSMS: connecting (and reconnecting with back-off), booting,
heartbeats, one CALL and its answer, and what the network or a reset does to the link
(disconnect, reconnect, reboot)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import random
import ssl
from typing import Any

import websockets
from ocpp.exceptions import OCPPError

from simulators.chargepoint.errors import Offline
from simulators.chargepoint.station import OpenConnection, Station, log


class Connection(Station):
    def _headers(self) -> dict[str, str]:
        if self.config.password is None:
            return {}
        raw = f"{self.id}:{self.config.password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}

    def _ssl(self) -> ssl.SSLContext | None:
        if not self.config.url.startswith("wss://"):
            return None
        ctx = ssl.create_default_context(cafile=self.config.ca_file)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return ctx

    async def _run(self) -> None:
        delay = self.config.reconnect_delay
        while not self._closing:
            await self._want_online.wait()
            if self._closing:
                return
            url = f"{self.config.url.rstrip('/')}/{self.id}"
            try:
                ws = await websockets.connect(
                    url,
                    subprotocols=[self.protocol.subprotocol],  # type: ignore[list-item]
                    additional_headers=self._headers(),
                    ssl=self._ssl(),
                    open_timeout=10,
                    ping_interval=20,
                    max_size=2**22,
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.connect_failures += 1
                self.emit("connect_failed", f"cannot connect: {_why(exc)}", reason=_why(exc))
                # OCPP 2.0.1 Part 4 (OCPP-J), reconnecting: a wait that doubles per attempt
                # (RetryBackOffWaitMinimum, up to a cap) plus a random part up to
                # RetryBackOffRandomRange, so chargers cut off together do not all come back
                # in the same instant (the same holds for 1.6 chargers in the field).
                await asyncio.sleep(delay + random.uniform(0, self.config.reconnect_random))
                delay = min(delay * 2, 30.0)
                continue
            delay = self.config.reconnect_delay
            await self._online(ws)

    async def _online(self, ws: Any) -> None:
        conn = OpenConnection(self.protocol.client(ws), ws)
        self._conn = conn
        self.connects += 1
        self._drop.clear()
        self.emit("connected", f"connected to {self.config.url} (OCPP {self.config.ocpp})")
        listener = asyncio.create_task(conn.client.start())
        worker = asyncio.create_task(self._session())
        dropped = asyncio.create_task(self._drop.wait())
        try:
            done, _ = await asyncio.wait(
                {listener, worker, dropped}, return_when=asyncio.FIRST_COMPLETED
            )
            if worker in done and not worker.cancelled() and worker.exception() is not None:
                exc = worker.exception()
                if not isinstance(exc, Offline | websockets.ConnectionClosed):
                    log.error("charger %s failed", self.id, exc_info=exc)
                    self.emit("error", f"failed: {type(exc).__name__}: {exc}")
        finally:
            self._conn = None
            conn.closed.set()
            for task in (listener, worker, dropped):
                task.cancel()
            for task in (listener, worker, dropped):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            with contextlib.suppress(Exception):
                await ws.close()
            for evse in self.evses.values():
                evse.sent = None  # reported again on the next connection
            if not self._closing:
                if self._want_online.is_set():
                    self.drops += 1
                self.emit("disconnected", "connection closed")

    async def _session(self) -> None:
        if self._need_boot or self.registration != "Accepted":
            await self._boot()
        await self._report_all()
        self.after_boot()
        pump = asyncio.create_task(self._pump())
        try:
            while True:
                await self.clock.sleep(self.heartbeat_interval)
                try:
                    await self.call(self.protocol.heartbeat())
                except (OCPPError, TimeoutError) as exc:
                    self.emit("error", f"Heartbeat not answered: {exc}")
                    continue
                self.emit("heartbeat", "Heartbeat")
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump

    @property
    def heartbeat_interval(self) -> int:
        return max(1, int(self.settings.get("HeartbeatInterval", "300")))

    async def _boot(self) -> None:
        while True:
            result = await self.call(self.protocol.boot(self._boot_reason))
            self.registration = result.status
            interval = int(result.interval or 0)
            self.boots += 1
            self.emit(
                "boot",
                f"BootNotification: {result.status} (interval {interval} s)",
                status=result.status,
                interval=interval,
            )
            if result.status == "Accepted":
                if self.config.heartbeat_interval is not None:
                    interval = self.config.heartbeat_interval
                if interval > 0:
                    self.settings["HeartbeatInterval"] = str(interval)
                self._need_boot = False
                self._boot_reason = "PowerUp"
                return
            await self.clock.sleep(interval if interval > 0 else 60)

    async def call(self, request: Any) -> Any:
        """Send one CALL and wait for its answer; Offline when there is no connection or it
        closes first. A CALLERROR raises the library's OCPPError."""
        conn = self._conn
        if conn is None:
            raise Offline(self.id)
        sent = asyncio.create_task(conn.client.call(request, suppress=False))
        closed = asyncio.create_task(conn.closed.wait())
        try:
            done, _ = await asyncio.wait(
                {sent, closed},
                timeout=self.config.response_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            closed.cancel()
            if not sent.done():
                sent.cancel()
        if sent in done:
            try:
                return sent.result()
            except websockets.ConnectionClosed:
                raise Offline(self.id) from None
        if closed in done:
            raise Offline(self.id)
        raise TimeoutError(f"no answer to {type(request).__name__}")

    async def _report_all(self) -> None:
        for request in self.protocol.station_status():
            with contextlib.suppress(OCPPError, TimeoutError):
                await self.call(request)
        for evse in self.evses.values():
            await self.report(evse, force=True)

    # --- what happens to the link -------------------------------------------------------

    async def disconnect(self) -> None:
        """Lose the connection (the network, not the charger): transactions go on, their
        messages queue up until `reconnect()`."""
        self._want_online.clear()
        self._drop.set()
        await self.wait_for(lambda: not self.connected, 10)

    async def reconnect(self, within: float = 30.0) -> None:
        self._want_online.set()
        await self.wait_for(lambda: self.accepted, within)

    async def reboot(self, kind: str = "Soft") -> None:
        """Reset: end the transactions, close the connection, boot again."""
        for e in self.evses.values():
            if e.tx is not None:
                await self.end_transaction(
                    e.id, self.protocol.reset_reason(kind), trigger="ResetCommand"
                )
        self.emit("reboot", f"rebooting ({kind} reset)")
        self.profiles_lost()
        self._need_boot = True
        self._boot_reason = "RemoteReset"
        self._want_online.clear()
        self._drop.set()
        await self.wait_for(lambda: not self.connected, 10)
        await self.clock.sleep(self.config.boot_delay)
        for e in self.evses.values():
            e.pending = None
            e.fault = None
        self._want_online.set()


def _why(exc: BaseException) -> str:
    if isinstance(exc, websockets.InvalidStatus):
        code = exc.response.status_code
        hint = {
            401: " (wrong or missing password)",
            404: " (is the charger registered? see POST /charging/chargers)",
        }.get(code, "")
        return f"HTTP {code}{hint}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
