"""Batcher: concurrent callers share batches, each hears its own outcome, the queue is bounded."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from chargepark.db.batcher import Batcher, Overloaded


class Recorder:
    """A `process` that records its batches and can be held open, or fail on an item."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.batches: list[list[str]] = []
        self.fail_on = fail_on
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, items: Sequence[str]) -> list[object]:
        self.batches.append(list(items))
        await self.gate.wait()
        if self.fail_on in items:
            raise RuntimeError("the store refused the batch")
        return [f"done {i}" for i in items]


async def test_items_that_arrive_during_a_batch_share_the_next_one():
    process = Recorder()
    process.gate.clear()
    batcher = Batcher(process, name="t")
    first = asyncio.ensure_future(batcher.submit("a"))
    await asyncio.sleep(0)  # "a" is being processed, held at the gate
    rest = [asyncio.ensure_future(batcher.submit(x)) for x in "bcd"]
    await asyncio.sleep(0)
    process.gate.set()
    assert await asyncio.gather(first, *rest) == ["done a", "done b", "done c", "done d"]
    assert process.batches == [["a"], ["b", "c", "d"]]


async def test_a_failing_batch_is_retried_item_by_item_so_only_the_culprit_fails():
    process = Recorder(fail_on="bad")
    batcher = Batcher(process, name="t")
    results = await asyncio.gather(
        *(batcher.submit(x) for x in ("ok-1", "bad", "ok-2")), return_exceptions=True
    )
    assert results[0] == "done ok-1" and results[2] == "done ok-2"
    assert isinstance(results[1], RuntimeError)


async def test_past_max_pending_a_caller_is_refused_at_once():
    process = Recorder()
    process.gate.clear()
    batcher = Batcher(process, name="t", max_pending=2)
    held = [asyncio.ensure_future(batcher.submit(x)) for x in "ab"]
    await asyncio.sleep(0)
    with pytest.raises(Overloaded):
        await batcher.submit("c")
    process.gate.set()
    await asyncio.gather(*held)
    assert await batcher.submit("d") == "done d"  # room again


async def test_items_of_one_key_never_sit_in_two_batches_in_flight():
    in_flight: set[str] = set()
    seen: list[tuple[str, int]] = []

    async def process(items: Sequence[tuple[str, int]]) -> list[None]:
        keys = {k for k, _ in items}
        assert not keys & in_flight, "a key in two batches at once"
        in_flight.update(keys)
        await asyncio.sleep(0.001)
        seen.extend(items)
        in_flight.difference_update(keys)
        return [None] * len(items)

    batcher: Batcher[tuple[str, int], None] = Batcher(
        process, name="t", concurrency=3, max_batch=4, key=lambda item: item[0]
    )
    await asyncio.gather(*(batcher.submit((k, n)) for n in range(10) for k in "xyz"))
    for key in "xyz":
        assert [n for k, n in seen if k == key] == list(range(10))  # in order, each once


async def test_close_waits_for_everything_queued():
    process = Recorder()
    batcher = Batcher(process, name="t", concurrency=2)
    pending = [asyncio.ensure_future(batcher.submit(x)) for x in "abcde"]
    await asyncio.sleep(0)
    await batcher.close()
    assert all(p.done() for p in pending)
    assert sorted(x for batch in process.batches for x in batch) == list("abcde")
