"""A worker: one event loop holding a share of the chargers, the closed and open loops, and the
numbers it reports to its parent.

Closed loop: each charger sends its next call as soon as the answer to the last one arrives.
Open loop: each charger's calls fall due on a fixed schedule (every connections/rate seconds,
the chargers evenly staggered); latency counts from when a call fell due, not when it could be
sent, so a slow server cannot hide its queueing (no coordinated omission). A call that falls
due while another is in flight waits on the charger; one that waits longer than the timeout
to be sent is given up and counted as never answered.

The parent talks to a worker over a `multiprocessing` pipe: the worker sends ("ready", set-up
numbers) once its chargers are connected and booted, waits for ("go", start time), sends
("result", numbers) after the run, and closes everything on ("close", None) or when the pipe
breaks.
"""

from __future__ import annotations

import array
import asyncio
import gc
import json
import math
import resource
import time
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any

from simulators.load.charger import Charger
from simulators.load.frames import ACTION_NAMES, BOOT, Frames
from simulators.load.spec import WorkerSpec
from simulators.load.websocket import HandshakeError

_RUSAGE_THREAD = getattr(resource, "RUSAGE_THREAD", resource.RUSAGE_SELF)


class Worker:
    def __init__(self, spec: WorkerSpec, *, thread_cpu: bool = False) -> None:
        load = spec.load
        self.spec = spec
        self.load = load
        self.versions = load.ocpp
        self.frames = [Frames(v) for v in load.ocpp]
        self.mix = list(load.mix)
        self.closed_loop = load.mode == "closed"
        self.timeout = load.timeout
        self.cpu_who = _RUSAGE_THREAD if thread_cpu else resource.RUSAGE_SELF
        self.ssl = load.endpoint.ssl_context()
        self.chargers: list[Charger] = []
        self.open_count = 0
        self.loop_start = math.inf
        self.window_start = math.inf
        self.window_end = math.inf
        n = load.connections
        self.interval = n / load.rate if load.mode == "open" else 0.0
        self.offsets = {
            g: g / n * self.interval for g in range(spec.first, spec.first + spec.count)
        }
        self.latency = array.array("d")
        self.latency_kind = array.array("b")  # kind | version index << 2
        self.due = 0  # calls due in the window (sent or waiting their turn)
        self.received = 0  # answers received during the window (throughput)
        self.received_ok = 0
        self.received_by_version = [0] * len(self.versions)
        self.callerrors: Counter[str] = Counter()  # of the calls due in the window
        self.answered_late = 0  # due in the window, answered after the timeout
        self.unanswered = 0  # due in the window, never answered (or never sent)
        self.unknown_answers = 0
        self.lost_calls = 0
        self.disconnects = 0
        self.server_calls = 0
        self.connect_ms = array.array("d")
        self.boot_ms = array.array("d")
        self.connect_failures: Counter[str] = Counter()
        self.boot_failures: Counter[str] = Counter()
        self.booted = 0
        self.booted_by_version = [0] * len(self.versions)
        self.setup_started = 0.0
        self.setup_ended = 0.0
        self.setup_tasks: list[asyncio.Task[None]] = []

    def in_window(self, scheduled: float) -> bool:
        return self.window_start <= scheduled < self.window_end

    # answers

    def on_message(self, ch: Charger, payload: bytes) -> None:
        error = None
        if payload.startswith(b'[3,"'):
            end = payload.find(b'"', 4)
            mid = payload[4:end]
        else:
            try:
                msg = json.loads(payload)
                kind_id, mid = msg[0], str(msg[1]).encode()
            except (ValueError, TypeError, IndexError, KeyError):
                self.callerrors["unparsable answer"] += 1
                return
            if kind_id == 2:  # the server calls us: we implement nothing
                self.server_calls += 1
                ch.write(
                    json.dumps(
                        [4, msg[1], "NotImplemented", "", {}], separators=(",", ":")
                    ).encode()
                )
                return
            if kind_id == 4:
                error = str(msg[2]) if len(msg) > 2 else "?"
            elif kind_id != 3:
                self.callerrors["unexpected message type"] += 1
                return
        try:
            entry = ch.pending.pop(int(mid), None)
        except ValueError:
            entry = None
        if entry is None:  # an id we never sent, or answered twice
            self.unknown_answers += 1
            return
        now = time.monotonic()
        due, kind, _ = entry
        if kind == BOOT:
            if ch.booted is not None and not ch.booted.done():
                status = "Accepted" if b'"Accepted"' in payload else ("CALLERROR " + (error or ""))
                if error is None and status != "Accepted":
                    status = "Rejected" if b'"Rejected"' in payload else "Pending or other"
                self.boot_ms.append((now - due) * 1000)
                ch.booted.set_result(status)
            return
        if self.window_start <= now < self.window_end:
            self.received += 1
            self.received_ok += error is None
            self.received_by_version[ch.vbits >> 2] += 1
        if self.window_start <= due < self.window_end:
            self.latency.append(now - due)
            self.latency_kind.append(kind | ch.vbits)
            if now - due > self.timeout:
                self.answered_late += 1
            if error is not None:
                self.callerrors[f"{ACTION_NAMES[kind]} {error}"] += 1
        if ch.current == int(mid):
            ch.current = None
            self._next(ch, now)

    def _next(self, ch: Charger, now: float) -> None:
        """The charger's slot is free: closed loop sends at once, open loop what is due."""
        if not ch.is_open:
            return
        if self.closed_loop:
            if now < self.window_end:
                if now >= self.window_start:
                    self.due += 1
                ch.send_next(now)
        elif ch.backlog:
            ch.send_next(ch.backlog.popleft())

    # set-up: connect and boot every charger

    async def open_one(
        self, gidx: int, local: int, sem: asyncio.Semaphore, deadline: float
    ) -> None:
        loop = asyncio.get_running_loop()
        load = self.load
        await _sleep_until(self.setup_started + self.spec.connect_offset(local))
        async with sem:
            vidx = gidx % len(self.versions)
            ch = Charger(self, gidx, self.frames[vidx], vidx)
            endpoint = load.endpoint
            t0 = time.monotonic()
            budget = min(load.connect_timeout, deadline - t0)
            try:
                async with asyncio.timeout(budget):
                    await loop.create_connection(
                        lambda: ch,
                        endpoint.host,
                        endpoint.port,
                        ssl=self.ssl,
                        server_hostname=endpoint.host if self.ssl else None,
                    )
                    await ch.handshake
            except (OSError, TimeoutError, HandshakeError) as exc:
                if isinstance(exc, TimeoutError):
                    reason = "timeout"
                elif isinstance(exc, ConnectionRefusedError):
                    reason = "connection refused"
                else:
                    reason = str(exc) or repr(exc)
                self.connect_failures[reason[:120]] += 1
                ch.abort()
                return
            t1 = time.monotonic()
            self.connect_ms.append((t1 - t0) * 1000)
            self.chargers.append(ch)
            ch.booted = loop.create_future()
            ch.send_boot(t1)
            try:
                async with asyncio.timeout(max(0.0, min(load.connect_timeout, deadline - t1))):
                    status = await ch.booted
            except TimeoutError:
                ch.pending.clear()
                self.boot_failures["timeout"] += 1
                return
            except ConnectionError:
                self.boot_failures["disconnected"] += 1
                return
            if status == "Accepted":
                self.booted += 1
                self.booted_by_version[vidx] += 1
            else:
                self.boot_failures[status] += 1

    async def setup(self) -> None:
        spec = self.spec
        budget = self.load.setup_budget
        sem = asyncio.Semaphore(max(1, spec.connect_concurrency or spec.count))
        self.setup_started = time.monotonic()
        deadline = self.setup_started + budget
        tasks = self.setup_tasks = [
            asyncio.create_task(self.open_one(spec.first + i, i, sem, deadline))
            for i in range(spec.count)
        ]
        _, late = await asyncio.wait(tasks, timeout=budget + 5)
        for task in late:
            task.cancel()
            self.connect_failures["set-up deadline"] += 1
        await asyncio.gather(*late, return_exceptions=True)
        self.setup_ended = time.monotonic()

    # the measured run

    async def run(self, start_at: float) -> dict[str, Any]:
        load = self.load
        loop = asyncio.get_running_loop()
        self.loop_start = start_at
        self.window_start = start_at + load.warmup
        self.window_end = self.window_start + load.duration
        live = [ch for ch in self.chargers if ch.is_open]
        if self.closed_loop:

            def start_all() -> None:
                now = time.monotonic()
                for ch in live:
                    if ch.is_open:
                        self.due += now >= self.window_start
                        ch.send_next(now)

            loop.call_at(start_at, start_all)
        else:
            for ch in live:
                ch.next_at = start_at + self.offsets[ch.gidx]
                loop.call_at(ch.next_at, ch.tick)

        await _sleep_until(self.window_start)
        ru0 = self._cpu_seconds()
        await self._sweep_until(self.window_end)
        ru1 = self._cpu_seconds()
        held = self.open_count
        # Drain: wait for the answers to calls due in the window, at most one timeout long.
        drain_end = time.monotonic() + load.timeout
        while time.monotonic() < drain_end and any(
            ch.backlog or any(self.in_window(c[0]) for c in ch.pending.values()) for ch in live
        ):
            await self._sweep_until(min(drain_end, time.monotonic() + 0.2))
        for ch in live:
            self.unanswered += sum(1 for c in ch.pending.values() if self.in_window(c[0]))
            self.unanswered += sum(1 for s in ch.backlog if self.in_window(s))
            ch.pending.clear()
            ch.backlog.clear()
        return {
            "held": held,
            "due": self.due,
            "received": self.received,
            "received_ok": self.received_ok,
            "received_by_version": list(self.received_by_version),
            "latency_count": len(self.latency),
            "callerrors": dict(self.callerrors),
            "answered_late": self.answered_late,
            "unanswered": self.unanswered,
            "unknown_answers": self.unknown_answers,
            "lost_calls": self.lost_calls,
            "disconnects": self.disconnects,
            "server_calls": self.server_calls,
            "latency": self.latency.tobytes(),
            "latency_kind": self.latency_kind.tobytes(),
            "cpu_seconds": ru1 - ru0,
        }

    def _cpu_seconds(self) -> float:
        ru = resource.getrusage(self.cpu_who)
        return ru.ru_utime + ru.ru_stime

    async def _sweep_until(self, until: float) -> None:
        """Sleep until `until`; a call unanswered for the timeout since it was sent frees its
        charger's slot (a late answer still counts), and calls waiting longer than that to be
        sent are given up."""
        timeout = self.timeout
        while True:
            now = time.monotonic()
            if now >= until:
                return
            await asyncio.sleep(min(0.25, until - now))
            now = time.monotonic()
            for ch in self.chargers:
                while ch.backlog and now - ch.backlog[0] > timeout:
                    if self.in_window(ch.backlog.popleft()):
                        self.unanswered += 1
                call = ch.pending.get(ch.current) if ch.current is not None else None
                if call is not None and now - call[2] > timeout:
                    ch.current = None
                    self._next(ch, now)

    async def close_all(self, grace: float = 3.0) -> None:
        for task in self.setup_tasks:
            task.cancel()
        await asyncio.gather(*self.setup_tasks, return_exceptions=True)
        for ch in self.chargers:
            ch.close()
        waiting = [ch.closed for ch in self.chargers if not ch.closed.done()]
        if waiting:
            await asyncio.wait(waiting, timeout=grace)
        for ch in self.chargers:
            if not ch.closed.done():
                ch.abort()
        await asyncio.sleep(0)

    def setup_report(self) -> dict[str, Any]:
        return {
            "opened": len(self.chargers),
            "booted": self.booted,
            "booted_by_version": list(self.booted_by_version),
            "connect_failures": dict(self.connect_failures),
            "boot_failures": dict(self.boot_failures),
            "connect_ms": self.connect_ms.tobytes(),
            "boot_ms": self.boot_ms.tobytes(),
            "started": self.setup_started,
            "ended": self.setup_ended,
        }


async def _sleep_until(t: float) -> None:
    delay = t - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


async def serve_parent(spec: WorkerSpec, pipe: Connection, *, in_thread: bool = False) -> None:
    """Set up, wait for "go", run, report; a "close" from the parent (or its death) at any
    point cancels whatever is under way and closes the connections."""
    worker = Worker(spec, thread_cpu=in_thread)
    inbox: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    main = asyncio.current_task()
    assert main is not None
    frozen = False

    async def watch() -> None:
        while True:
            if pipe.poll():
                try:
                    message = pipe.recv()
                except EOFError:
                    message = ("close", None)
                if message[0] == "close":
                    main.cancel()
                    return
                inbox.put_nowait(message)
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch())
    try:
        await worker.setup()
        if spec.load.freeze_gc:
            # Thousands of long-lived connection objects make each full collection slow;
            # frozen, they are skipped, so the generator's own GC pauses do not show up as
            # latency.
            gc.collect()
            gc.freeze()
            frozen = True
        pipe.send(("ready", worker.setup_report()))
        kind, start_at = await asyncio.wait_for(inbox.get(), spec.load.setup_budget + 120)
        if kind == "go":
            pipe.send(("result", await worker.run(start_at)))
            await asyncio.sleep(120)  # until the parent says "close" (bounded all the same)
    except asyncio.CancelledError:
        pass  # the parent said "close"
    finally:
        watcher.cancel()
        await worker.close_all()
        if frozen and in_thread:  # the process goes on: give its objects back to the collector
            gc.unfreeze()
