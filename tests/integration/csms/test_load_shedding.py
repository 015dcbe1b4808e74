"""Past its capacity the csms answers at once with InternalError (nothing was processed; the
charger sends the message again later) and keeps the connection."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import asyncpg
import ocpp.v16
from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action
from sqlalchemy.exc import DBAPIError
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from chargepark.db.batcher import Overloaded
from csms.ocpp.base import ProtocolEdge

NOW = "2026-11-27T09:00:00Z"


class Busy(ProtocolEdge, ocpp.v16.ChargePoint):
    @on(Action.heartbeat)
    async def on_heartbeat(self) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=NOW)

    @on(Action.status_notification)
    async def on_status_notification(self, **_: Any) -> call_result.StatusNotification:
        raise Overloaded("status-reports: 5000 items queued")


async def test_an_overloaded_call_is_refused_with_internal_error_and_the_socket_stays_up():
    adapters: list[Busy] = []

    async def handle(conn: ServerConnection) -> None:
        adapters.append(Busy("CP-1", conn))
        with contextlib.suppress(ConnectionClosed):
            await adapters[-1].start()

    async with serve(handle, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}/CP-1", subprotocols=["ocpp1.6"]) as ws:
            status = {"connectorId": 1, "errorCode": "NoError", "status": "Charging"}
            await ws.send(json.dumps([2, "s1", "StatusNotification", status]))
            answer = json.loads(await asyncio.wait_for(ws.recv(), 2))
            assert answer[:3] == [4, "s1", "InternalError"]
            assert answer[4] == {"cause": "overloaded: try again later"}
            await ws.send(json.dumps([2, "h1", "Heartbeat", {}]))
            assert json.loads(await asyncio.wait_for(ws.recv(), 2)) == [
                3,
                "h1",
                {"currentTime": NOW},
            ]
    assert adapters[0].overloads == 1


class Restarting(ProtocolEdge, ocpp.v16.ChargePoint):
    @on(Action.heartbeat)
    async def on_heartbeat(self) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=NOW)

    @on(Action.status_notification)
    async def on_status_notification(self, **_: Any) -> call_result.StatusNotification:
        # As SQLAlchemy wraps it while PostgreSQL shuts down or starts up.
        cause = asyncpg.exceptions.CannotConnectNowError("the database system is starting up")
        raise DBAPIError("connect", None, cause)


async def test_a_call_that_meets_the_database_restarting_is_internal_error_without_a_traceback(
    caplog,
):
    async def handle(conn: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            await Restarting("CP-1", conn).start()

    status = {"connectorId": 1, "errorCode": "NoError", "status": "Charging"}
    async with serve(handle, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}/CP-1", subprotocols=["ocpp1.6"]) as ws:
            for n in range(3):
                await ws.send(json.dumps([2, f"s{n}", "StatusNotification", status]))
                answer = json.loads(await asyncio.wait_for(ws.recv(), 2))
                assert answer[:3] == [4, f"s{n}", "InternalError"]
                assert answer[4] == {"cause": "temporarily unavailable: try again later"}
            await ws.send(json.dumps([2, "h1", "Heartbeat", {}]))
            assert json.loads(await asyncio.wait_for(ws.recv(), 2))[:2] == [3, "h1"]
    assert [r for r in caplog.records if r.exc_info or r.levelname == "ERROR"] == []
    outage_lines = [r for r in caplog.records if "out of reach" in r.getMessage()]
    assert len(outage_lines) <= 1  # one line a minute, not one per call
