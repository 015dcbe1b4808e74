"""A tiny CSMS over a real WebSocket (the ocpp library's CSMS side) for the simulator's smart
charging tests: it accepts boots, transactions and meter values, records every message, and
lets the test send commands to the charger."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as Cp16
from ocpp.v16 import call_result as r16
from ocpp.v201 import ChargePoint as Cp201
from ocpp.v201 import call_result as r201

_ids = itertools.count(1)


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self.changed = asyncio.Event()

    def note(self, action: str, payload: dict[str, Any]) -> None:
        self.seen.append((action, payload))
        self.changed.set()

    async def wait(self, action: str, within: float = 10.0, **match: Any) -> dict[str, Any]:
        async with asyncio.timeout(within):
            while True:
                for name, payload in self.seen:
                    if name == action and all(payload.get(k) == v for k, v in match.items()):
                        return payload
                self.changed.clear()
                await self.changed.wait()


class Csms16(Cp16):
    rec: Recorder

    @on("BootNotification")
    async def boot(self, **kw: Any) -> Any:
        return r16.BootNotification(
            current_time="2026-01-01T00:00:00Z", interval=300, status="Accepted"
        )

    @on("StatusNotification")
    async def status(self, **kw: Any) -> Any:
        self.rec.note("StatusNotification", kw)
        return r16.StatusNotification()

    @on("Heartbeat")
    async def heartbeat(self, **kw: Any) -> Any:
        return r16.Heartbeat(current_time="2026-01-01T00:00:00Z")

    @on("Authorize")
    async def authorize(self, **kw: Any) -> Any:
        return r16.Authorize(id_tag_info={"status": "Accepted"})

    @on("StartTransaction")
    async def on_start(self, **kw: Any) -> Any:
        self.rec.note("StartTransaction", kw)
        return r16.StartTransaction(transaction_id=next(_ids), id_tag_info={"status": "Accepted"})

    @on("MeterValues")
    async def meter(self, **kw: Any) -> Any:
        self.rec.note("MeterValues", kw)
        return r16.MeterValues()

    @on("StopTransaction")
    async def on_stop(self, **kw: Any) -> Any:
        self.rec.note("StopTransaction", kw)
        return r16.StopTransaction()


class Csms201(Cp201):
    rec: Recorder

    @on("BootNotification")
    async def boot(self, **kw: Any) -> Any:
        return r201.BootNotification(
            current_time="2026-01-01T00:00:00Z", interval=300, status="Accepted"
        )

    @on("StatusNotification")
    async def status(self, **kw: Any) -> Any:
        self.rec.note("StatusNotification", kw)
        return r201.StatusNotification()

    @on("Heartbeat")
    async def heartbeat(self, **kw: Any) -> Any:
        return r201.Heartbeat(current_time="2026-01-01T00:00:00Z")

    @on("Authorize")
    async def authorize(self, **kw: Any) -> Any:
        return r201.Authorize(id_token_info={"status": "Accepted"})

    @on("TransactionEvent")
    async def tx_event(self, **kw: Any) -> Any:
        self.rec.note("TransactionEvent", kw)
        return r201.TransactionEvent(id_token_info={"status": "Accepted"})

    @on("MeterValues")
    async def meter(self, **kw: Any) -> Any:
        return r201.MeterValues()

    @on("ReportChargingProfiles")
    async def report(self, **kw: Any) -> Any:
        self.rec.note("ReportChargingProfiles", kw)
        return r201.ReportChargingProfiles()

    @on("NotifyEVChargingNeeds")
    async def needs(self, **kw: Any) -> Any:
        self.rec.note("NotifyEVChargingNeeds", kw)
        return r201.NotifyEVChargingNeeds(status="Accepted")

    @on("NotifyEVChargingSchedule")
    async def ev_schedule(self, **kw: Any) -> Any:
        self.rec.note("NotifyEVChargingSchedule", kw)
        return r201.NotifyEVChargingSchedule(status="Accepted")

    @on("NotifyChargingLimit")
    async def limit(self, **kw: Any) -> Any:
        self.rec.note("NotifyChargingLimit", kw)
        return r201.NotifyChargingLimit()

    @on("ClearedChargingLimit")
    async def cleared(self, **kw: Any) -> Any:
        self.rec.note("ClearedChargingLimit", kw)
        return r201.ClearedChargingLimit()


class Stub:
    def __init__(self) -> None:
        self.rec = Recorder()
        self.cp: Any = None
        self.connected = asyncio.Event()
        self.url = ""

    async def _serve(self, ws: Any) -> None:
        cls = Csms16 if ws.subprotocol == "ocpp1.6" else Csms201
        cp = cls(ws.request.path.rsplit("/", 1)[-1], ws)
        cp.rec = self.rec
        self.cp = cp
        self.connected.set()
        with contextlib.suppress(websockets.ConnectionClosed):
            await cp.start()


@asynccontextmanager
async def csms_stub() -> AsyncIterator[Stub]:
    stub = Stub()
    async with websockets.serve(
        stub._serve,
        "127.0.0.1",
        0,
        subprotocols=["ocpp1.6", "ocpp2.0.1"],  # type: ignore[list-item]
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        stub.url = f"ws://127.0.0.1:{port}/ocpp"
        yield stub
