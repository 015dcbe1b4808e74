"""The CommandLog port: the same cases on the in-memory log and on SQL."""

from __future__ import annotations

import pytest

from csms.adapters.command_log import SqlCommandLog
from csms.domain.chargers import UnknownCharger
from csms.ports.command_log import ABANDONED_AFTER_SEC, CommandLog
from csms.ports.gateway import MAX_TIMEOUT_SEC, CallErrorReply, CommandOutcome, CommandStatus
from tests.support.fakes.csms.command_log import InMemoryCommandLog


@pytest.fixture
async def log(backend) -> CommandLog:
    await backend.register("CP-1")
    await backend.register("CP-2")
    if backend.fake:
        return InMemoryCommandLog(c for c, _ in backend.registered)
    return SqlCommandLog(backend.db)


async def test_an_unknown_charger_has_no_log(log, clock):
    at = clock.now()
    assert await log.open("NOPE", "Reset", {}, requested_by=None, timeout_sec=30, at=at) is None
    with pytest.raises(UnknownCharger):
        await log.page("NOPE", 10, 0)


async def test_a_command_is_sent_then_settled_and_read_back_newest_first(log, clock):
    first = await log.open(
        "CP-1", "Reset", {"type": "Soft"}, requested_by="ops-1", timeout_sec=20, at=clock.now()
    )
    clock.advance(seconds=1)
    second = await log.open(
        "CP-1", "ClearCache", {}, requested_by=None, timeout_sec=30, at=clock.now()
    )
    await log.open("CP-2", "ClearCache", {}, requested_by=None, timeout_sec=30, at=clock.now())
    answered = CommandOutcome(CommandStatus.ANSWERED, "Reset", response={"status": "Accepted"})
    await log.settle(first, answered, clock.now())
    refused = CommandOutcome(
        CommandStatus.ERROR,
        "ClearCache",
        error=CallErrorReply("NotSupported", "no", {"why": "old firmware"}),
        detail="the charger answered ClearCache with NotSupported: no",
    )
    await log.settle(second, refused, clock.now())
    items, total = await log.page("CP-1", 10, 0)
    assert total == 2 and [c.id for c in items] == [second, first]
    error, ok = items
    assert (ok.action, ok.request, ok.status, ok.response) == (
        "Reset",
        {"type": "Soft"},
        CommandStatus.ANSWERED,
        {"status": "Accepted"},
    )
    assert (ok.requested_by, ok.timeout_sec, ok.answered_at) == ("ops-1", 20, clock.now())
    assert (error.status, error.error_code, error.error_description, error.error_details) == (
        CommandStatus.ERROR,
        "NotSupported",
        "no",
        {"why": "old firmware"},
    )
    page, total = await log.page("CP-1", 1, 1)
    assert total == 2 and [c.id for c in page] == [first]


async def test_only_commands_left_sent_past_every_timeout_are_settled_as_timed_out(log, clock):
    old = await log.open("CP-1", "Reset", {}, requested_by=None, timeout_sec=30, at=clock.now())
    clock.advance(seconds=MAX_TIMEOUT_SEC + ABANDONED_AFTER_SEC + 1)
    recent = await log.open("CP-1", "Reset", {}, requested_by=None, timeout_sec=30, at=clock.now())
    offline = CommandOutcome(CommandStatus.OFFLINE, "Reset", detail="not connected")
    await log.settle(recent, offline, clock.now())
    assert await log.settle_abandoned(clock.now()) == 1
    assert await log.settle_abandoned(clock.now()) == 0
    items, _ = await log.page("CP-1", 10, 0)
    statuses = {c.id: (c.status, c.answered_at, c.error_description) for c in items}
    assert statuses[old][0] is CommandStatus.TIMEOUT and statuses[old][1] is None
    assert statuses[recent] == (CommandStatus.OFFLINE, None, "not connected")
