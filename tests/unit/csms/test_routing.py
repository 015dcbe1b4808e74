"""Command routing between csms nodes, with fake ports and presence over a real in-process bus:
which node sends a command, what travels, how each ending comes back, and dead nodes."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from chargepark.events.inprocess import InProcessBus
from csms.adapters import command_routing as routed
from csms.adapters.cluster import Holder, Whereabouts
from csms.adapters.command_routing import (
    CommandResponder,
    RoutedCommandPort,
    command_subject,
    decode_outcome,
    encode_outcome,
)
from csms.adapters.presence import Presence
from csms.ports.gateway import CallErrorReply, CommandOutcome, CommandStatus

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
ANSWERED = CommandOutcome(
    CommandStatus.ANSWERED, "Reset", response={"status": "Accepted"}, ocpp_version="1.6"
)


class FakePort:
    def __init__(self, outcome: CommandOutcome = ANSWERED, delay: float = 0.0) -> None:
        self.outcome = outcome
        self.delay = delay
        self.sent: list[tuple[str, str, dict[str, Any], float, str | None]] = []

    async def send(
        self,
        charger_id: str,
        action: str,
        payload: Mapping[str, Any],
        timeout_sec: float = 30.0,
        *,
        requested_by: str | None = None,
    ) -> CommandOutcome:
        self.sent.append((charger_id, action, dict(payload), timeout_sec, requested_by))
        await asyncio.sleep(self.delay)
        return self.outcome


class FakeTable:
    """The shared presence rows, in a dict."""

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.rows: dict[str, Holder] = {}
        self.reads = 0

    async def holder(self, charger_id: str) -> Holder | None:
        self.reads += 1
        return self.rows.get(charger_id)

    async def holders(self, charger_ids: Any) -> dict[str, Holder]:
        self.reads += 1
        return {c: self.rows[c] for c in charger_ids if c in self.rows}

    async def forget(self, charger_id: str, node_id: str) -> bool:
        holder = self.rows.get(charger_id)
        if holder is None or holder.node_id != node_id:
            return False
        del self.rows[charger_id]
        return True

    def put(self, charger_id: str, node_id: str, version: str = "1.6") -> None:
        self.rows[charger_id] = Holder(node_id, version, T0)


class Node:
    """One csms node's routing parts: its sockets, its local port, its routed port."""

    def __init__(self, node_id: str, bus: InProcessBus, table: FakeTable, local: FakePort):
        self.presence = Presence()
        self.table = table
        self.local = local
        self.whereabouts = Whereabouts(self.presence, table)  # type: ignore[arg-type]
        self.port = RoutedCommandPort(local, self.whereabouts, bus)
        self.responder = CommandResponder(local, bus, node_id)

    def holds(self, charger_id: str, version: str = "ocpp1.6") -> None:
        self.presence.connected(charger_id, object(), version, T0)


@pytest.fixture
async def bus():
    bus = InProcessBus()
    yield bus
    await bus.close()


@pytest.fixture
async def nodes(bus) -> tuple[Node, Node, FakeTable]:
    """Node a and node b, each seeing the one shared table (as b: rows of a are elsewhere)."""
    a = Node("node-a", bus, FakeTable("node-a"), FakePort())
    b = Node("node-b", bus, FakeTable("node-b"), FakePort())
    b.table.rows = a.table.rows  # one table, two points of view
    await a.responder.start()
    await bus.start()
    return a, b, a.table


async def test_a_charger_held_here_goes_out_through_the_local_port_without_a_query(nodes):
    a, b, _ = nodes
    b.holds("CP-1")
    outcome = await b.port.send("CP-1", "Reset", {"type": "Soft"}, 7, requested_by="op")
    assert outcome == ANSWERED
    assert b.local.sent == [("CP-1", "Reset", {"type": "Soft"}, 7, "op")]
    assert a.local.sent == [] and b.table.reads == 0


async def test_a_charger_held_by_another_node_goes_out_there_and_its_outcome_comes_back(nodes):
    a, b, table = nodes
    a.holds("CP-1")
    table.put("CP-1", "node-a")
    a.local.outcome = CommandOutcome(
        CommandStatus.ERROR,
        "Reset",
        error=CallErrorReply("NotSupported", "no Reset here", {"why": ["x"]}),
        detail="the charger answered Reset with NotSupported: no Reset here",
        ocpp_version="2.0.1",
    )
    outcome = await b.port.send("CP-1", "Reset", {"type": "Immediate"}, 12, requested_by="op")
    assert outcome == a.local.outcome
    assert a.local.sent == [("CP-1", "Reset", {"type": "Immediate"}, 12, "op")]
    assert b.local.sent == []


async def test_the_timeout_sent_along_is_capped_and_the_request_waits_a_margin_longer(
    nodes, bus, monkeypatch
):
    a, b, table = nodes
    table.put("CP-1", "node-a")
    asked: list[float] = []
    request = bus.request

    async def spy(subject: str, data: bytes, timeout_sec: float) -> bytes:
        asked.append(timeout_sec)
        return await request(subject, data, timeout_sec)

    monkeypatch.setattr(bus, "request", spy)
    await b.port.send("CP-1", "Reset", {}, 300)
    assert a.local.sent[0][3] == 30.0
    assert asked == [30.0 + routed.TRANSPORT_MARGIN_SEC]


async def test_a_charger_no_node_holds_is_offline_from_the_local_port(nodes):
    a, b, _ = nodes
    b.local.outcome = CommandOutcome(CommandStatus.OFFLINE, "Reset", detail="not connected")
    outcome = await b.port.send("CP-9", "Reset", {})
    assert outcome.status is CommandStatus.OFFLINE
    assert b.local.sent and not a.local.sent


async def test_a_row_of_this_node_without_a_socket_here_is_not_routed_anywhere(nodes):
    a, b, table = nodes
    table.put("CP-1", "node-b")  # b's socket closed, its row not yet removed
    b.local.outcome = CommandOutcome(CommandStatus.OFFLINE, "Reset", detail="not connected")
    assert (await b.port.send("CP-1", "Reset", {})).status is CommandStatus.OFFLINE
    assert not a.local.sent


async def test_a_dead_node_is_offline_at_once_and_its_stale_row_goes(nodes):
    _, b, table = nodes
    table.put("CP-1", "node-gone")
    table.put("CP-2", "node-gone")
    started = asyncio.get_running_loop().time()
    outcome = await b.port.send("CP-1", "Reset", {}, 30)
    assert asyncio.get_running_loop().time() - started < 1
    assert outcome.status is CommandStatus.OFFLINE and "gone" in (outcome.detail or "")
    assert "CP-1" not in table.rows
    assert "CP-2" in table.rows  # only the row found dead


async def test_a_row_that_moved_to_another_node_meanwhile_is_not_removed(nodes, bus, monkeypatch):
    _, b, table = nodes
    table.put("CP-1", "node-gone")
    request = bus.request

    async def moved_meanwhile(subject: str, data: bytes, timeout_sec: float) -> bytes:
        table.put("CP-1", "node-a")  # the charger reconnected to node a
        return await request(subject, data, timeout_sec)

    monkeypatch.setattr(bus, "request", moved_meanwhile)
    assert (await b.port.send("CP-1", "Reset", {})).status is CommandStatus.OFFLINE
    assert table.rows["CP-1"].node_id == "node-a"


async def test_a_holding_node_that_does_not_reply_in_time_is_a_timeout(nodes, monkeypatch):
    a, b, table = nodes
    monkeypatch.setattr(routed, "TRANSPORT_MARGIN_SEC", 0.1)
    table.put("CP-1", "node-a")
    a.local.delay = 2.0
    outcome = await b.port.send("CP-1", "Reset", {}, 0.1)
    assert outcome.status is CommandStatus.TIMEOUT and "node" in (outcome.detail or "")
    assert "CP-1" in table.rows


async def test_with_the_bus_down_a_command_for_another_node_is_offline_and_the_row_stays(
    nodes, bus
):
    a, b, table = nodes
    table.put("CP-1", "node-a")
    await bus.close()
    outcome = await b.port.send("CP-1", "Reset", {})
    assert outcome.status is CommandStatus.OFFLINE
    assert "another csms node" in (outcome.detail or "")
    assert "CP-1" in table.rows and not a.local.sent


async def test_the_responder_answers_a_failing_send_as_a_timeout_and_garbage_as_invalid():
    class Broken(FakePort):
        async def send(self, *args: Any, **kwargs: Any) -> CommandOutcome:
            raise RuntimeError("bug (test)")

    responder = CommandResponder(Broken(), InProcessBus(), "node-x")
    request = routed.encode_request("CP-1", "Reset", {}, 5, None)
    assert decode_outcome(await responder.answer(request)).status is CommandStatus.TIMEOUT
    assert decode_outcome(await responder.answer(b"{not json")).status is CommandStatus.INVALID
    assert decode_outcome(await responder.answer(b'{"action": 1}')).status is CommandStatus.INVALID


@pytest.mark.parametrize(
    "outcome",
    [
        ANSWERED,
        CommandOutcome(CommandStatus.ANSWERED, "DataTransfer", response={"data": {"a": [1, 2.5]}}),
        CommandOutcome(CommandStatus.ERROR, "Reset", error=CallErrorReply(None, "odd", {})),
        CommandOutcome(CommandStatus.ERROR, "Reset", response={"x": 1}, detail="schema"),
        CommandOutcome(CommandStatus.TIMEOUT, "Reset", detail="no answer within 5 s"),
        CommandOutcome(CommandStatus.OFFLINE, "Reset", detail="not connected"),
        CommandOutcome(CommandStatus.INVALID, "Reset", detail="body.type", ocpp_version="1.6"),
    ],
)
def test_every_outcome_survives_the_trip(outcome):
    assert decode_outcome(encode_outcome(outcome)) == outcome


def test_each_node_has_its_own_command_subject():
    assert command_subject("csms-1") == "csms.commands.csms-1"


async def test_whereabouts_asks_the_table_only_for_chargers_not_held_here():
    presence = Presence()
    table = FakeTable("node-b")
    where = Whereabouts(presence, table)  # type: ignore[arg-type]
    presence.connected("CP-HERE", object(), "ocpp2.0.1", T0)
    table.put("CP-THERE", "node-a", "1.6")
    table.put("CP-MINE-GONE", "node-b", "1.6")
    assert await where.version_of("CP-HERE") == "2.0.1" and table.reads == 0
    assert await where.elsewhere("CP-HERE") is None and table.reads == 0
    assert await where.version_of("CP-THERE") == "1.6"
    assert await where.version_of("CP-MINE-GONE") is None
    assert await where.connected(["CP-HERE", "CP-THERE", "CP-MINE-GONE", "CP-NONE"]) == {
        "CP-HERE": "2.0.1",
        "CP-THERE": "1.6",
    }
    reads = table.reads
    assert await where.connected(["CP-HERE"]) == {"CP-HERE": "2.0.1"}
    assert table.reads == reads  # all held here: no query


def test_presence_reports_only_the_current_socket_of_a_charger():
    heard: list[tuple[str, ...]] = []

    class Listener:
        def connected(self, charger_id: str, ocpp_version: str, at: datetime) -> None:
            heard.append(("connected", charger_id, ocpp_version))

        def disconnected(self, charger_id: str) -> None:
            heard.append(("disconnected", charger_id))

    presence = Presence(Listener())
    first, second = object(), object()
    presence.connected("CP-1", first, "ocpp1.6", T0)
    presence.seen("CP-1", T0)
    presence.connected("CP-1", second, "ocpp2.0.1", T0)  # replaces the first
    presence.disconnected("CP-1", first)  # the replaced one closes: nothing to report
    presence.disconnected("CP-1", second)
    assert heard == [
        ("connected", "CP-1", "ocpp1.6"),
        ("connected", "CP-1", "ocpp2.0.1"),
        ("disconnected", "CP-1"),
    ]
