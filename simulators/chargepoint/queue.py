"""Transaction messages, in order, surviving a lost connection (as real chargers keep them).

Every transaction message (1.6 StartTransaction, MeterValues of a transaction,
StopTransaction; 2.0.1 TransactionEvent) goes through this queue. The request is built when it
is sent, so a 1.6 message queued before its transaction had an id picks it up then.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Queued:
    action: str
    build: Callable[[], Any]  # the library's request object, built at sending time
    on_answer: Callable[[Any], None] | None = None
    offline: bool = False  # put in while the charger was offline
    transaction: str | None = None  # 2.0.1: the transaction it belongs to
    attempts: int = 0
    done: asyncio.Future[Any] | None = field(default=None, repr=False)


class TxQueue:
    def __init__(self) -> None:
        self._items: deque[Queued] = deque()
        self._nonempty = asyncio.Event()
        self.put_total = 0  # every message ever queued
        self.sent = 0  # answered or given up on
        self.replayed = 0

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Queued) -> None:
        self._items.append(item)
        self.put_total += 1
        self._nonempty.set()

    async def head(self) -> Queued:
        while not self._items:
            self._nonempty.clear()
            await self._nonempty.wait()
        return self._items[0]

    def head_nowait(self) -> Queued:
        return self._items[0]

    def pop(self) -> Queued:
        item = self._items.popleft()
        self.sent += 1
        if item.offline:
            self.replayed += 1
        return item

    def actions(self) -> list[str]:
        return [i.action for i in self._items]

    def offline_actions(self) -> list[str]:
        """What was queued while the charger was offline (the rest was queued online and
        waited behind an unanswered head)."""
        return [i.action for i in self._items if i.offline]

    def holds(self, transaction: str | None) -> bool:
        return any(transaction is None or i.transaction == transaction for i in self._items)
