"""One simulated charge point on one connection: boot once, then CALLs from the mix.

OCPP-J lets a charger have one CALL unanswered at a time; a charger keeps that rule in both
loops. Answers are matched by message id in the worker (`Worker.on_message`).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import TYPE_CHECKING

from simulators.load.frames import BOOT, METER, Frames
from simulators.load.websocket import WebSocketClient, basic_authorization

if TYPE_CHECKING:
    from simulators.load.worker import Worker


class Charger(WebSocketClient):
    def __init__(self, worker: Worker, gidx: int, frames: Frames, vidx: int) -> None:
        load = worker.spec.load
        self.cp_id = load.charger_id(gidx)
        auth = basic_authorization(self.cp_id, load.password) if load.password else None
        super().__init__(
            load.endpoint, load.endpoint.path_prefix + self.cp_id, frames.subprotocol, auth
        )
        self.w = worker
        self.gidx = gidx
        self.frames = frames
        self.vbits = vidx << 2  # the OCPP version, stored with each latency next to the kind
        self.booted: asyncio.Future[str] | None = None
        # message id -> (due at, kind, sent at); a call stays here until answered, even when
        # its timeout freed the slot for the next one
        self.pending: dict[int, tuple[float, int, float]] = {}
        self.current: int | None = None  # the call in flight: OCPP-J allows one at a time
        self.backlog: deque[float] = deque()  # open loop: due times of calls waiting their turn
        self.seq = 0
        self.pos = gidx % len(worker.mix)
        self.cycle = 0
        self.energy_wh = 1_000_000 + (gidx * 7919) % 500_000
        self.next_at = 0.0  # open loop: when the next call is due
        self.k = 0

    # connection events

    def on_open(self) -> None:
        self.w.open_count += 1

    def on_message(self, payload: bytes) -> None:
        self.w.on_message(self, payload)

    def on_lost(self, was_open: bool) -> None:
        w = self.w
        if self.booted is not None and not self.booted.done():
            self.booted.set_exception(ConnectionError("closed before the boot answer"))
        if was_open and not self.closing:
            w.disconnects += 1
            w.lost_calls += sum(1 for c in self.pending.values() if w.in_window(c[0]))
            w.lost_calls += sum(1 for s in self.backlog if w.in_window(s))
        self.pending.clear()
        self.backlog.clear()
        self.current = None
        w.open_count -= was_open

    # calls out

    def send_boot(self, at: float) -> None:
        self.seq += 1
        self.pending[self.seq] = (at, BOOT, at)
        self.write(self.frames.boot(self.seq, self.gidx))

    def send_next(self, due: float) -> None:
        w = self.w
        kind = w.mix[self.pos]
        self.pos += 1
        if self.pos == len(w.mix):
            self.pos = 0
            self.cycle += 1
        self.seq += 1
        if kind == METER:
            self.energy_wh += 37  # ~11 kW over a 12 s sample interval
        self.pending[self.seq] = (due, kind, time.monotonic())
        self.current = self.seq
        self.write(self.frames.call(kind, self.seq, self.gidx + 1, self.energy_wh, self.cycle))

    def tick(self) -> None:
        """Open loop: the next call is due; send it, or queue it while one is in flight."""
        w = self.w
        if not self.is_open or self.next_at >= w.window_end:
            return
        if w.window_start <= self.next_at:
            w.due += 1
        if self.current is not None:  # OCPP-J: one CALL at a time; latency counts from now
            self.backlog.append(self.next_at)
        else:
            self.send_next(self.next_at)
        self.k += 1
        self.next_at = w.loop_start + self.k * w.interval + w.offsets[self.gidx]
        asyncio.get_running_loop().call_at(self.next_at, self.tick)
