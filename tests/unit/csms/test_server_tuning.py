"""What the OCPP endpoint sets up for a fleet: a listen backlog for boot storms, and a garbage
collector that does not walk long-lived objects at every collection."""

from __future__ import annotations

import gc
from typing import Any

import pytest
from websockets.datastructures import Headers
from websockets.http11 import Request

from chargepark.db.batcher import Overloaded
from csms.ocpp import server
from csms.ocpp.server import GC_THRESHOLDS, LISTEN_BACKLOG, OcppServer, tune_gc


@pytest.fixture
def restored_gc():
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_after_start_up_what_exists_is_frozen_and_young_objects_are_collected_less_often(
    restored_gc,
):
    tune_gc()
    assert gc.get_threshold() == GC_THRESHOLDS
    assert gc.get_freeze_count() > 0


async def test_the_endpoint_listens_with_a_backlog_for_a_boot_storm(monkeypatch):
    seen: dict[str, Any] = {}

    async def fake_serve(handler: Any, host: str, port: int, **kwargs: Any) -> str:
        seen.update(kwargs)
        return "listening"

    monkeypatch.setattr(server, "serve", fake_serve)
    endpoint = object.__new__(OcppServer)
    endpoint.host = "127.0.0.1"
    assert await endpoint._listen(0, None) == "listening"
    assert seen["backlog"] == LISTEN_BACKLOG >= 1024


async def test_a_handshake_is_refused_with_503_while_admission_is_overloaded():
    class Swamped:
        async def admit(self, charger_id: str, password: str | None) -> None:
            raise Overloaded("charger-lookups: 50000 items queued")

    endpoint = object.__new__(OcppServer)
    endpoint.prefix, endpoint.service = "/ocpp/", Swamped()
    request = Request("/ocpp/CP-1", Headers([("Sec-WebSocket-Protocol", "ocpp1.6")]))
    response = await endpoint._check_request(None, request)
    assert response.status_code == 503 and response.headers["Retry-After"] == "10"
