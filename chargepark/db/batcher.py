"""Batching for many concurrent callers: each awaits its own item's outcome, but the items that
arrive while one batch is processed share the next one.

Under load the batches grow by themselves and the per-item database cost falls; idle, a lone
item is processed at once (no timer, no added latency). The queue is bounded: past `max_pending`
items a caller is refused with `Overloaded` at once, so an overloaded server sheds work instead
of answering everything seconds late.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

from chargepark import tracing

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger(__name__)


class Overloaded(Exception):
    """The queue is full: the caller should refuse its request rather than wait."""


class Batcher(Generic[T, R]):
    """`process(items)` handles a batch and returns one outcome per item, in order: a result,
    or an exception that only that item's caller receives. If `process` itself raises, each
    item of the batch is retried alone, so one bad item cannot fail the others."""

    def __init__(
        self,
        process: Callable[[Sequence[T]], Awaitable[Sequence[R | BaseException]]],
        *,
        name: str,
        max_batch: int = 500,
        max_pending: int = 10_000,
        size: Callable[[T], int] = lambda _: 1,
        concurrency: int = 1,
        key: Callable[[T], Hashable] | None = None,
    ) -> None:
        self.process = process
        self.name = name
        self.max_batch = max_batch
        self.max_pending = max_pending
        self.size = size
        self.concurrency = concurrency  # batches in flight at once
        # Items with the same key never sit in two batches in flight at once: they are
        # processed in the order they came, each seeing the effect of the one before.
        self.key = key
        self._busy: set[Hashable] = set()  # keys of the batches in flight
        self.pending = 0  # items (in `size` units) queued and not yet processed
        self._queue: deque[tuple[T, asyncio.Future[R]]] = deque()
        self._workers: set[asyncio.Task[None]] = set()

    async def submit(self, item: T) -> R:
        size = self.size(item)
        if self.pending and self.pending + size > self.max_pending:
            raise Overloaded(f"{self.name}: {self.pending} items queued")
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, done))
        self.pending += size
        if len(self._workers) < self.concurrency:
            # A second worker starts only while the first one waits on its batch, so batches
            # overlap their round trips to the database instead of queueing behind them.
            # Tracing on: the batch serves many callers, so it runs in none of their spans.
            context = tracing.detached_context() if tracing.enabled else None
            worker = asyncio.create_task(self._drain(), name=f"batch-{self.name}", context=context)
            self._workers.add(worker)
            worker.add_done_callback(self._workers.discard)
        return await done

    async def _drain(self) -> None:
        while self._queue:
            batch, keys, units = self._take()
            if not batch:  # all that waits belongs to batches in flight; their workers go on
                return
            try:
                await self._run(batch)
            finally:
                self.pending -= units
                self._busy -= keys

    def _take(self) -> tuple[list[tuple[T, asyncio.Future[R]]], set[Hashable], int]:
        batch: list[tuple[T, asyncio.Future[R]]] = []
        keys: set[Hashable] = set()
        held_back: list[tuple[T, asyncio.Future[R]]] = []
        units = 0
        while self._queue:
            entry = self._queue[0]
            size = self.size(entry[0])
            if batch and units + size > self.max_batch:
                break
            self._queue.popleft()
            if self.key is not None:
                key = self.key(entry[0])
                if key in self._busy:
                    held_back.append(entry)
                    continue
                keys.add(key)
            batch.append(entry)
            units += size
        self._queue.extendleft(reversed(held_back))
        self._busy |= keys
        return batch, keys, units

    async def _run(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            outcomes = await self.process([item for item, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exc)
                log.error("batch failed", extra={"batch": self.name, "error": str(exc)})
                return
            for entry in batch:  # find the culprit; the others still get their answer
                await self._run([entry])
            return
        for (_, done), outcome in zip(batch, outcomes, strict=True):
            _settle(done, outcome)

    async def close(self) -> None:
        """Wait for every queued item to be processed."""
        while self._workers:
            await asyncio.gather(*self._workers, return_exceptions=True)


def _settle(done: asyncio.Future[Any], outcome: Any) -> None:
    if done.done():  # the caller was cancelled: nobody to tell
        return
    if isinstance(outcome, BaseException):
        done.set_exception(outcome)
    else:
        done.set_result(outcome)
