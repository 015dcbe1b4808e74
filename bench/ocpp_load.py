"""Load generator for the OCPP hot path: the csms endpoint against a bare websockets responder.

    python -m bench.ocpp_load --target both --connections 100 --duration 20 --mode closed

It starts the target server itself (pinned to one core), opens N WebSocket connections from
127.0.0.1 (pinned to the other core), boots each charger once, then sends a mix of
Heartbeat, StatusNotification and MeterValues CALLs, closed loop (the next call when the answer
arrives) or open loop (each charger on a fixed schedule; latency counts from the scheduled send
time, so a slow server cannot hide its queueing). bench/README.md explains every flag.

The client side is deliberately cheap: a minimal RFC 6455 client on `asyncio.Protocol`, frames
built from pre-made JSON templates, answers matched by message id without decoding them. It
must never be the bottleneck; its CPU use is reported next to the server's so a reader can check.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import base64
import contextlib
import ctypes
import gc
import hashlib
import io
import json
import math
import multiprocessing
import os
import platform
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter, deque
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as wait_pipes
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - the pure-Python fallback of the same function
    from websockets.utils import apply_mask

HOST = "127.0.0.1"  # the only address this tool ever connects to
REPO_ROOT = Path(__file__).resolve().parent.parent
UNKNOWN_POLICY_ENV = "CHARGEPARK_OCPP_UNKNOWN"
_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_LOCAL_HOSTS = ("127.0.0.1", "localhost")

# Call kinds. The mix is a cycle over the first three; BOOT is sent once per connection.
HEARTBEAT, STATUS, METER, BOOT = 0, 1, 2, 3
ACTION_NAMES = ("Heartbeat", "StatusNotification", "MeterValues", "BootNotification")
MIX_KEYS = {"heartbeat": HEARTBEAT, "status": STATUS, "meter": METER}


# ---------------------------------------------------------------------------------------------
# Frames: OCPP-J CALL texts from templates (only the id, the time and the meter reading vary)
# ---------------------------------------------------------------------------------------------

_BOOT16 = (
    '[2,"%d","BootNotification",{"chargePointVendor":"ChargePark",'
    '"chargePointModel":"Bench-AC22","chargePointSerialNumber":"BENCH-%06d",'
    '"firmwareVersion":"1.4.2","meterType":"ACM-3P","meterSerialNumber":"M-%06d"}]'
)
_BOOT201 = (
    '[2,"%d","BootNotification",{"reason":"PowerUp","chargingStation":'
    '{"serialNumber":"BENCH-%06d","model":"Bench-AC22","vendorName":"ChargePark",'
    '"firmwareVersion":"1.4.2"}}]'
)
_STATUS16 = (
    '[2,"%d","StatusNotification",{"connectorId":1,"errorCode":"NoError",'
    '"status":"%s","timestamp":"%s"}]'
)
_STATUS201 = (
    '[2,"%d","StatusNotification",{"timestamp":"%s","connectorStatus":"Occupied",'
    '"evseId":1,"connectorId":1}]'
)

_SV16 = '"context":"Sample.Periodic","format":"Raw"'
_METER16 = (
    '[2,"%d","MeterValues",{"connectorId":1,"transactionId":%d,"meterValue":[{"timestamp":"%s",'
    '"sampledValue":['
    '{"value":"%d",' + _SV16 + ',"measurand":"Energy.Active.Import.Register",'
    '"location":"Outlet","unit":"Wh"},'
    '{"value":"11040",' + _SV16 + ',"measurand":"Power.Active.Import","location":"Outlet",'
    '"unit":"W"},'
    '{"value":"16.0",' + _SV16 + ',"measurand":"Current.Import","phase":"L1",'
    '"location":"Outlet","unit":"A"},'
    '{"value":"15.9",' + _SV16 + ',"measurand":"Current.Import","phase":"L2",'
    '"location":"Outlet","unit":"A"},'
    '{"value":"16.1",' + _SV16 + ',"measurand":"Current.Import","phase":"L3",'
    '"location":"Outlet","unit":"A"},'
    '{"value":"230.4",' + _SV16 + ',"measurand":"Voltage","phase":"L1-N",'
    '"location":"Outlet","unit":"V"},'
    '{"value":"229.8",' + _SV16 + ',"measurand":"Voltage","phase":"L2-N",'
    '"location":"Outlet","unit":"V"},'
    '{"value":"231.0",' + _SV16 + ',"measurand":"Voltage","phase":"L3-N",'
    '"location":"Outlet","unit":"V"},'
    '{"value":"32",' + _SV16 + ',"measurand":"Current.Offered","location":"Outlet",'
    '"unit":"A"},'
    '{"value":"%d",' + _SV16 + ',"measurand":"SoC","location":"EV","unit":"Percent"},'
    '{"value":"31.5",' + _SV16 + ',"measurand":"Temperature","location":"Body",'
    '"unit":"Celsius"}'
    "]}]}]"
)

_SV201 = '"context":"Sample.Periodic"'
_METER201 = (
    '[2,"%d","MeterValues",{"evseId":1,"meterValue":[{"timestamp":"%s","sampledValue":['
    '{"value":%d,' + _SV201 + ',"measurand":"Energy.Active.Import.Register",'
    '"location":"Outlet","unitOfMeasure":{"unit":"Wh"}},'
    '{"value":11040,' + _SV201 + ',"measurand":"Power.Active.Import","location":"Outlet",'
    '"unitOfMeasure":{"unit":"W"}},'
    '{"value":16.0,' + _SV201 + ',"measurand":"Current.Import","phase":"L1",'
    '"location":"Outlet","unitOfMeasure":{"unit":"A"}},'
    '{"value":15.9,' + _SV201 + ',"measurand":"Current.Import","phase":"L2",'
    '"location":"Outlet","unitOfMeasure":{"unit":"A"}},'
    '{"value":16.1,' + _SV201 + ',"measurand":"Current.Import","phase":"L3",'
    '"location":"Outlet","unitOfMeasure":{"unit":"A"}},'
    '{"value":230.4,' + _SV201 + ',"measurand":"Voltage","phase":"L1-N",'
    '"location":"Outlet","unitOfMeasure":{"unit":"V"}},'
    '{"value":229.8,' + _SV201 + ',"measurand":"Voltage","phase":"L2-N",'
    '"location":"Outlet","unitOfMeasure":{"unit":"V"}},'
    '{"value":231.0,' + _SV201 + ',"measurand":"Voltage","phase":"L3-N",'
    '"location":"Outlet","unitOfMeasure":{"unit":"V"}},'
    '{"value":32,' + _SV201 + ',"measurand":"Current.Offered","location":"Outlet",'
    '"unitOfMeasure":{"unit":"A"}},'
    '{"value":%d,' + _SV201 + ',"measurand":"SoC","location":"EV",'
    '"unitOfMeasure":{"unit":"Percent"}},'
    '{"value":50.0,' + _SV201 + ',"measurand":"Frequency","location":"Outlet",'
    '"unitOfMeasure":{"unit":"Hz"}}'
    "]}]}]"
)


class Frames:
    """Builds the CALL texts a charger of one OCPP version sends."""

    def __init__(self, ocpp: str) -> None:
        if ocpp not in ("1.6", "2.0.1"):
            raise ValueError(f"unsupported OCPP version {ocpp!r}")
        self.ocpp = ocpp
        self.subprotocol = "ocpp" + ocpp
        self._second = -1
        self._stamp = ""

    def timestamp(self) -> str:
        now = int(time.time())
        if now != self._second:  # formatted once a second, not once a call
            self._second = now
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        return self._stamp

    def boot(self, mid: int, serial: int) -> bytes:
        if self.ocpp == "1.6":
            return (_BOOT16 % (mid, serial, serial)).encode()
        return (_BOOT201 % (mid, serial)).encode()

    def call(self, kind: int, mid: int, transaction: int, energy_wh: int, cycle: int) -> bytes:
        if kind == HEARTBEAT:
            return b'[2,"%d","Heartbeat",{}]' % mid
        ts = self.timestamp()
        soc = 20 + cycle % 80
        if self.ocpp == "1.6":
            if kind == STATUS:
                status = "Charging" if cycle % 2 == 0 else "SuspendedEV"
                text = _STATUS16 % (mid, status, ts)
            else:
                text = _METER16 % (mid, transaction, ts, energy_wh, soc)
        elif kind == STATUS:
            text = _STATUS201 % (mid, ts)
        else:
            text = _METER201 % (mid, ts, energy_wh, soc)
        return text.encode()


# ---------------------------------------------------------------------------------------------
# The client: one asyncio.Protocol per charger, a minimal RFC 6455 client
# ---------------------------------------------------------------------------------------------


class HandshakeError(Exception):
    pass


def _frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A client frame: FIN set, masked with a fresh random key (RFC 6455, 5.3)."""
    n = len(payload)
    mask = random.randbytes(4)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0xFE)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0xFF)) + n.to_bytes(8, "big")
    return head + mask + apply_mask(payload, mask)


class Charger(asyncio.Protocol):
    """One simulated charge point: handshake, then CALLs out and answers in."""

    def __init__(self, worker: Worker, gidx: int) -> None:
        self.w = worker
        self.gidx = gidx
        self.cp_id = f"bench-{gidx:06d}"
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.handshake: asyncio.Future[None] = loop.create_future()
        self.booted: asyncio.Future[tuple[str, str]] | None = None
        self.closed: asyncio.Future[None] = loop.create_future()
        self.key = base64.b64encode(os.urandom(16))
        self.hbuf = bytearray()
        self.buf = bytearray()
        self.frag: bytearray | None = None
        self.is_open = False
        self.closing = False  # we started closing: losing the connection is no error
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

    # transport callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        w = self.w
        transport.write(
            (
                f"GET {w.path_prefix}{self.cp_id} HTTP/1.1\r\n"
                f"Host: {HOST}:{w.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {self.key.decode()}\r\n"
                "Sec-WebSocket-Version: 13\r\n"
                f"Sec-WebSocket-Protocol: {w.frames.subprotocol}\r\n\r\n"
            ).encode()
        )

    def data_received(self, data: bytes) -> None:
        if self.is_open:
            self.buf += data
            self._parse()
        elif not self.handshake.done():
            self._handshake(data)

    def eof_received(self) -> bool | None:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        was_open, self.is_open = self.is_open, False
        if not self.handshake.done():
            self.handshake.set_exception(HandshakeError("closed during the handshake"))
        if self.booted is not None and not self.booted.done():
            self.booted.set_exception(ConnectionError("closed before the boot answer"))
        if was_open and not self.closing:
            self.w.disconnects += 1
            self.w.lost_calls += sum(1 for c in self.pending.values() if self.w.in_window(c[0]))
            self.w.lost_calls += sum(1 for s in self.backlog if self.w.in_window(s))
        self.pending.clear()
        self.backlog.clear()
        self.current = None
        self.w.open_count -= was_open
        if not self.closed.done():
            self.closed.set_result(None)

    # the handshake

    def _handshake(self, data: bytes) -> None:
        self.hbuf += data
        end = self.hbuf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.hbuf) > 16384:
                self._fail_handshake("handshake response too long")
            return
        head, rest = bytes(self.hbuf[:end]), bytes(self.hbuf[end + 4 :])
        self.hbuf = bytearray()
        lines = head.split(b"\r\n")
        status = lines[0].split(b" ", 2)
        if len(status) < 2 or status[1] != b"101":
            self._fail_handshake("HTTP " + b" ".join(status[1:]).decode(errors="replace"))
            return
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        accept = base64.b64encode(hashlib.sha1(self.key + _WS_GUID).digest())
        if headers.get(b"sec-websocket-accept") != accept:
            self._fail_handshake("bad Sec-WebSocket-Accept")
            return
        proto = headers.get(b"sec-websocket-protocol", b"").decode(errors="replace")
        if proto != self.w.frames.subprotocol:
            self._fail_handshake(f"subprotocol {proto or 'none'} instead of ocpp{self.w.ocpp}")
            return
        self.is_open = True
        self.w.open_count += 1
        self.handshake.set_result(None)
        if rest:
            self.buf += rest
            self._parse()

    def _fail_handshake(self, reason: str) -> None:
        if not self.handshake.done():
            self.handshake.set_exception(HandshakeError(reason))
        if self.transport is not None:
            self.transport.close()

    # frames in

    def _parse(self) -> None:
        buf = self.buf
        while len(buf) >= 2:
            b0, b1 = buf[0], buf[1]
            n, p = b1 & 0x7F, 2
            if n == 126:
                if len(buf) < 4:
                    return
                n, p = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127:
                if len(buf) < 10:
                    return
                n, p = int.from_bytes(buf[2:10], "big"), 10
            mask = None
            if b1 & 0x80:  # a server must not mask; decode it anyway
                if len(buf) < p + 4:
                    return
                mask, p = bytes(buf[p : p + 4]), p + 4
            if len(buf) < p + n:
                return
            payload = bytes(buf[p : p + n])
            del buf[: p + n]
            if mask is not None:
                payload = apply_mask(payload, mask)
            self._on_frame(b0, payload)

    def _on_frame(self, b0: int, payload: bytes) -> None:
        opcode, fin = b0 & 0x0F, b0 & 0x80
        if opcode in (0x1, 0x2):
            if fin:
                self.w.on_message(self, payload)
            else:
                self.frag = bytearray(payload)
        elif opcode == 0x0 and self.frag is not None:
            self.frag += payload
            if fin:
                message, self.frag = bytes(self.frag), None
                self.w.on_message(self, message)
        elif opcode == 0x9:  # ping: answer with a pong carrying the same data
            self.write(payload, 0xA)
        elif opcode == 0x8:  # the server closes: echo the close, then drop the connection
            self.write(payload[:2], 0x8)
            if self.transport is not None:
                self.transport.close()

    # frames out

    def write(self, payload: bytes, opcode: int = 0x1) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_frame(payload, opcode))

    def send_boot(self, at: float) -> None:
        self.seq += 1
        self.pending[self.seq] = (at, BOOT, at)
        self.write(self.w.frames.boot(self.seq, self.gidx))

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
        self.write(w.frames.call(kind, self.seq, self.gidx + 1, self.energy_wh, self.cycle))

    def tick(self) -> None:
        """Open loop: the next call is due; send it, or queue it while one is in flight."""
        if not self.is_open or self.next_at >= self.w.window_end:
            return
        w = self.w
        if w.window_start <= self.next_at:
            w.due += 1
        if self.current is not None:  # OCPP-J: one CALL at a time; latency counts from now
            self.backlog.append(self.next_at)
        else:
            self.send_next(self.next_at)
        self.k += 1
        self.next_at = self.w.loop_start + self.k * self.w.interval + self.w.offsets[self.gidx]
        asyncio.get_running_loop().call_at(self.next_at, self.tick)

    def close(self) -> None:
        self.closing = True
        if self.is_open:
            self.write(b"\x03\xe8", 0x8)  # 1000, normal closure; the server closes TCP first
        elif self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.abort()


# ---------------------------------------------------------------------------------------------
# A worker process: holds a share of the connections, reports numbers to the parent
# ---------------------------------------------------------------------------------------------


@dataclass
class WorkerSpec:
    port: int
    path_prefix: str
    ocpp: str
    mix: list[int]
    mode: str
    rate: float
    total_connections: int
    first: int
    count: int
    connect_concurrency: int
    connect_timeout: float
    setup_timeout: float
    timeout: float
    warmup: float
    duration: float
    cpus: list[int] | None


class Worker:
    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.port = spec.port
        self.path_prefix = spec.path_prefix
        self.ocpp = spec.ocpp
        self.frames = Frames(spec.ocpp)
        self.mix = spec.mix
        self.closed_loop = spec.mode == "closed"
        self.chargers: list[Charger] = []
        self.open_count = 0
        self.loop_start = math.inf
        self.window_start = math.inf
        self.window_end = math.inf
        self.interval = spec.total_connections / spec.rate if spec.rate > 0 else 0.0
        n = spec.total_connections
        self.offsets = {
            g: g / n * self.interval for g in range(spec.first, spec.first + spec.count)
        }
        self.latency = array.array("d")
        self.latency_kind = array.array("b")
        self.due = 0  # calls due in the window (sent or waiting their turn)
        self.received = 0  # answers received during the window (throughput)
        self.received_ok = 0
        self.callerrors: Counter[str] = Counter()  # of the calls due in the window
        self.answered_late = 0  # due in the window, answered after --timeout
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
                ch.booted.set_result((status, ""))
            return
        if self.window_start <= now < self.window_end:
            self.received += 1
            self.received_ok += error is None
        if self.window_start <= due < self.window_end:
            self.latency.append(now - due)
            self.latency_kind.append(kind)
            if now - due > self.spec.timeout:
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

    async def open_one(self, gidx: int, sem: asyncio.Semaphore, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        async with sem:
            ch = Charger(self, gidx)
            t0 = time.monotonic()
            budget = min(self.spec.connect_timeout, deadline - t0)
            try:
                async with asyncio.timeout(budget):
                    await loop.create_connection(lambda: ch, HOST, self.port)
                    await ch.handshake
            except (OSError, TimeoutError, HandshakeError) as exc:
                reason = "timeout" if isinstance(exc, TimeoutError) else str(exc) or repr(exc)
                self.connect_failures[reason[:120]] += 1
                ch.abort()
                return
            t1 = time.monotonic()
            self.connect_ms.append((t1 - t0) * 1000)
            self.chargers.append(ch)
            ch.booted = loop.create_future()
            ch.send_boot(t1)
            try:
                async with asyncio.timeout(max(0.0, min(self.spec.connect_timeout, deadline - t1))):
                    status, _ = await ch.booted
            except TimeoutError:
                ch.pending.clear()
                self.boot_failures["timeout"] += 1
                return
            except ConnectionError:
                self.boot_failures["disconnected"] += 1
                return
            if status == "Accepted":
                self.booted += 1
            else:
                self.boot_failures[status] += 1

    async def setup(self) -> None:
        spec = self.spec
        limit = spec.connect_concurrency or spec.count
        sem = asyncio.Semaphore(max(1, limit))
        self.setup_started = time.monotonic()
        deadline = self.setup_started + spec.setup_timeout
        tasks = self.setup_tasks = [
            asyncio.create_task(self.open_one(g, sem, deadline))
            for g in range(spec.first, spec.first + spec.count)
        ]
        _, late = await asyncio.wait(tasks, timeout=spec.setup_timeout + 5)
        for task in late:
            task.cancel()
            self.connect_failures["set-up deadline"] += 1
        await asyncio.gather(*late, return_exceptions=True)
        self.setup_ended = time.monotonic()

    # the measured run

    async def run(self, start_at: float) -> dict[str, Any]:
        spec = self.spec
        loop = asyncio.get_running_loop()
        self.loop_start = start_at
        self.window_start = start_at + spec.warmup
        self.window_end = self.window_start + spec.duration
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
        ru0 = _cpu_seconds_self()
        await self._sweep_until(self.window_end)
        ru1 = _cpu_seconds_self()
        held = self.open_count
        # Drain: wait for the answers to calls due in the window, at most one timeout long.
        drain_end = time.monotonic() + spec.timeout
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

    async def _sweep_until(self, until: float) -> None:
        """Sleep until `until`; a call unanswered for --timeout since it was sent frees its
        charger's slot (a late answer still counts), and calls waiting longer than that to be
        sent are given up."""
        timeout = self.spec.timeout
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


def _cpu_seconds_self() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


async def _worker_async(spec: WorkerSpec, pipe: Connection) -> None:
    """Set up, wait for "go", run, report; a "close" from the parent (or its death) at any
    point cancels whatever is under way and closes the connections."""
    worker = Worker(spec)
    inbox: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    main = asyncio.current_task()
    assert main is not None

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
        # Thousands of long-lived connection objects make each full collection slow; frozen,
        # they are skipped, so the generator's own GC pauses do not show up as latency.
        gc.collect()
        gc.freeze()
        pipe.send(("ready", worker.setup_report()))
        kind, start_at = await asyncio.wait_for(inbox.get(), spec.setup_timeout + 120)
        if kind == "go":
            pipe.send(("result", await worker.run(start_at)))
            await asyncio.sleep(120)  # until the parent says "close" (bounded all the same)
    except asyncio.CancelledError:
        pass  # the parent said "close"
    finally:
        watcher.cancel()
        await worker.close_all()


def worker_main(spec: WorkerSpec, pipe: Connection) -> None:
    """Entry point of a worker process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handler, inherited by fork
    _die_with_parent()
    if spec.cpus:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, spec.cpus)
    try:
        asyncio.run(_worker_async(spec, pipe))
    except (TimeoutError, EOFError, BrokenPipeError):
        pass  # the parent went away or gave up on us
    except Exception as exc:
        with contextlib.suppress(OSError):
            pipe.send(("failed", f"{type(exc).__name__}: {exc}"))
    finally:
        with contextlib.suppress(OSError):
            pipe.send(("closed", None))


# ---------------------------------------------------------------------------------------------
# The parent: server lifecycle, measurement, report
# ---------------------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """Linux: get SIGTERM when the parent dies, so nothing outlives the tool."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def raise_nofile_limit() -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in KiB (empty when it is gone)."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    name, value = line.split(":", 1)
                    out[name] = int(value.split()[0])
    except OSError:
        pass
    return out


def proc_cpu_seconds(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _quantile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def summarize_ms(values: list[float], scale: float = 1.0) -> dict[str, float | int]:
    s = sorted(v * scale for v in values)
    if not s:
        return {"count": 0}
    return {
        "count": len(s),
        "p50": round(_quantile(s, 0.50), 3),
        "p95": round(_quantile(s, 0.95), 3),
        "p99": round(_quantile(s, 0.99), 3),
        "max": round(s[-1], 3),
        "mean": round(sum(s) / len(s), 3),
    }


def _local_url(url: str, what: str) -> str:
    host = urlsplit(url).hostname
    if host not in _LOCAL_HOSTS:
        raise SystemExit(f"ocpp_load: {what} must point at 127.0.0.1, not {host!r}")
    return url


def _pg_exec(admin_url: str, sql: str) -> None:
    import asyncpg

    async def go() -> None:
        conn = await asyncpg.connect(admin_url, timeout=10)
        try:
            await conn.execute(sql, timeout=60)
        finally:
            await conn.close(timeout=10)

    asyncio.run(go())


@dataclass
class Server:
    target: str
    proc: subprocess.Popen[bytes]
    port: int
    path_prefix: str
    log_path: Path
    command: list[str]
    notes: list[str]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 5, width: int = 400) -> list[str]:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return []
        return [line[:width] for line in text[-lines:]]

    def log_lines(self) -> int:
        try:
            with open(self.log_path, "rb") as f:
                return sum(1 for _ in f)
        except OSError:
            return 0

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _pin_prefix(cpus: list[int] | None) -> tuple[list[str], Any]:
    """taskset when it exists, else sched_setaffinity in the child before exec."""
    if not cpus:
        return [], None
    taskset = shutil.which("taskset")
    if taskset:
        return [taskset, "-c", ",".join(map(str, cpus))], None

    def pin() -> None:
        os.sched_setaffinity(0, cpus)

    return [], pin


def start_server(
    args: argparse.Namespace, target: str, workdir: Path, db_url: str | None
) -> Server:
    port = free_port()
    prefix, preexec = _pin_prefix(args.server_cpus)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARGEPARK_")}
    env["PYTHONUNBUFFERED"] = "1"
    notes: list[str] = []
    if target == "bare":
        command = [sys.executable, "-m", "bench.bare_responder", "--port", str(port)]
        cwd = REPO_ROOT
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        path_prefix = "/ocpp/"
    else:
        cwd = Path(args.csms_src).resolve()
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(cwd), env.get("PYTHONPATH")]))
        env["CHARGEPARK_LOG_LEVEL"] = "warning"
        env[UNKNOWN_POLICY_ENV] = "accept"
        command = [
            sys.executable, "-m", "chargepark", "serve", "csms", "--host", HOST,
            "--data-dir", str(workdir / "data"), "--migrate",
            "--port", str(free_port()), "--ocpp-port", str(port),
        ]  # fmt: skip
        if db_url:
            command += ["--database-url", db_url]
        if args.gc_stats:
            probe = [str(Path(args.gc_stats).resolve())]
            probe += ["--keep-gc-defaults"] if args.gc_defaults else []
            command[1:2] = ["-m", "bench.gc_probe", *probe, "-m"]
            env["PYTHONPATH"] += os.pathsep + str(REPO_ROOT)  # bench, whatever --csms-src is
        path_prefix = "/ocpp/"
    log_path = workdir / f"{target}.log"

    def launch() -> subprocess.Popen[bytes]:
        def pre() -> None:
            _die_with_parent()
            if preexec is not None:
                preexec()

        with open(log_path, "wb") as log:
            return subprocess.Popen(
                prefix + command,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches us, and we stop it in order
                preexec_fn=pre,
            )

    proc = launch()
    server = Server(target, proc, port, path_prefix, log_path, prefix + command, notes)
    try:
        _wait_listening(server, args.start_timeout)
    except RuntimeError:
        log_text = log_path.read_text(errors="replace")
        if target == "csms" and f"{UNKNOWN_POLICY_ENV}: unknown setting" in log_text:
            # This csms predates the unknown-charger policy: every charger is accepted anyway.
            env.pop(UNKNOWN_POLICY_ENV)
            notes.append(f"this csms does not know {UNKNOWN_POLICY_ENV}; started without it")
            server.proc = launch()
            _wait_listening(server, args.start_timeout)
        else:
            raise
    return server


def _wait_listening(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.alive():
            tail = "\n  ".join(server.log_tail(10))
            raise RuntimeError(
                f"{server.target} server exited with code {server.proc.returncode}:\n  {tail}"
            )
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex((HOST, server.port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{server.target} server did not listen on port {server.port} in {timeout}s")


class Pool:
    """The worker processes of one run and their pipes."""

    def __init__(self, args: argparse.Namespace, server: Server) -> None:
        ctx = multiprocessing.get_context("fork")
        n, p = args.connections, args.processes
        shares = [n // p + (1 if i < n % p else 0) for i in range(p)]
        conc = args.connect_concurrency
        self.procs: list[multiprocessing.process.BaseProcess] = []
        self.pipes: list[Connection] = []
        first = 0
        for share in shares:
            spec = WorkerSpec(
                port=server.port,
                path_prefix=server.path_prefix,
                ocpp=args.ocpp,
                mix=[MIX_KEYS[m] for m in args.mix],
                mode=args.mode,
                rate=args.rate or 0.0,
                total_connections=n,
                first=first,
                count=share,
                connect_concurrency=max(1, conc // p) if conc else 0,
                connect_timeout=args.connect_timeout,
                setup_timeout=args.setup_timeout,
                timeout=args.timeout,
                warmup=args.warmup,
                duration=args.duration,
                cpus=args.client_cpus,
            )
            mine, theirs = ctx.Pipe()
            proc = ctx.Process(target=worker_main, args=(spec, theirs), daemon=True)
            proc.start()
            theirs.close()
            self.procs.append(proc)
            self.pipes.append(mine)
            first += share

    def gather(self, kind: str, timeout: float) -> list[Any]:
        deadline = time.monotonic() + timeout
        got: dict[int, Any] = {}
        while len(got) < len(self.pipes):
            left = [pp for i, pp in enumerate(self.pipes) if i not in got]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(f"workers sent no {kind!r} within {timeout:.0f}s")
            for pipe in wait_pipes(left, timeout=min(remaining, 1.0)):
                i = self.pipes.index(pipe)  # type: ignore[arg-type]
                try:
                    what, payload = pipe.recv()
                except EOFError:
                    raise RuntimeError("a worker process died") from None
                if what == "failed":
                    raise RuntimeError(f"a worker failed: {payload}")
                if what == kind:
                    got[i] = payload
        return [got[i] for i in range(len(self.pipes))]

    def send(self, message: Any) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send(message)

    def stop(self, timeout: float = 15.0) -> None:
        self.send(("close", None))
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            proc.join(max(0.1, deadline - time.monotonic()))
        for proc in self.procs:
            if proc.is_alive():
                proc.terminate()
                proc.join(3)
            if proc.is_alive():
                proc.kill()
                proc.join(3)
        for pipe in self.pipes:
            pipe.close()


def _floats(chunks: list[bytes]) -> list[float]:
    out = array.array("d")
    for chunk in chunks:
        out.frombytes(chunk)
    return out.tolist()


def _kinds(chunks: list[bytes]) -> list[int]:
    out = array.array("b")
    for chunk in chunks:
        out.frombytes(chunk)
    return out.tolist()


def _sum_counters(dicts: list[dict[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for d in dicts:
        total.update(d)
    return dict(total.most_common())


def run_target(args: argparse.Namespace, target: str) -> dict[str, Any]:
    """Start one server, load it, stop it; returns that run's report."""
    workdir = Path(tempfile.mkdtemp(prefix=f"chargepark-bench-{target}-"))
    server: Server | None = None
    pool: Pool | None = None
    pg_db: str | None = None
    db_url = None
    database = "none"
    try:
        if target == "csms":
            if args.postgres:
                pg_db = f"chargepark_bench_{os.urandom(4).hex()}"
                _pg_exec(args.pg_admin_url, f'CREATE DATABASE "{pg_db}"')
                base = urlsplit(args.pg_admin_url)
                db_url = base._replace(path="/" + pg_db).geturl()
                database = "postgresql"
            elif args.database_url:
                db_url = args.database_url
                database = db_url.split(":", 1)[0]
            else:
                database = "sqlite"
        loadavg = round(os.getloadavg()[0], 2)  # others' work on a shared machine shows here
        server = start_server(args, target, workdir, db_url)
        time.sleep(args.settle)
        pid = server.proc.pid
        rss_before = proc_status(pid).get("VmRSS", 0)

        pool = Pool(args, server)
        ready = pool.gather("ready", args.setup_timeout + 60)
        time.sleep(args.settle)
        rss_connected = proc_status(pid).get("VmRSS", 0)

        start_at = time.monotonic() + 0.2
        pool.send(("go", start_at))
        window_start = start_at + args.warmup
        window_end = window_start + args.duration
        time.sleep(max(0.0, window_start - time.monotonic()))
        cpu0 = proc_cpu_seconds(pid)
        time.sleep(max(0.0, window_end - time.monotonic()))
        cpu1 = proc_cpu_seconds(pid)
        results = pool.gather("result", args.timeout + 60)
        status_after = proc_status(pid)
        server_alive = server.alive()
        pool.stop()
        pool = None
    finally:
        with _uninterrupted():
            if pool is not None:
                pool.stop(timeout=10)
            if server is not None:
                server.stop()
            if pg_db is not None:
                with contextlib.suppress(Exception):
                    _pg_exec(args.pg_admin_url, f'DROP DATABASE IF EXISTS "{pg_db}" WITH (FORCE)')
            log_lines, log_tail = (server.log_lines(), server.log_tail(3)) if server else (0, [])
            shutil.rmtree(workdir, ignore_errors=True)

    latency = _floats([r["latency"] for r in results])
    kinds = _kinds([r["latency_kind"] for r in results])
    by_kind: dict[str, list[float]] = {}
    for value, kind in zip(latency, kinds, strict=True):
        by_kind.setdefault(ACTION_NAMES[kind], []).append(value)

    def total(key: str) -> int:
        return sum(r[key] for r in results)

    received, received_ok = total("received"), total("received_ok")
    held = sum(r["held"] for r in results)
    opened = sum(r["opened"] for r in ready)
    setup_seconds = max(r["ended"] for r in ready) - min(r["started"] for r in ready)
    rss_after = status_after.get("VmRSS", 0)
    per_conn = (rss_connected - rss_before) / opened if opened else math.nan
    callerrors = _sum_counters([r["callerrors"] for r in results])
    notes = list(server.notes)
    if not server_alive:
        notes.append(f"the server died during the run (exit code {server.proc.returncode})")
    generator_cpu = sum(r["cpu_seconds"] for r in results)  # float: not total()
    report = {
        "target": target,
        "database": database,
        "server_command": server.command,
        "connections": {
            "requested": args.connections,
            "opened": opened,
            "booted": sum(r["booted"] for r in ready),
            "held": held,
        },
        "calls": {
            "received": received,
            "received_ok": received_ok,
            "per_s": round(received / args.duration, 1),
            "ok_per_s": round(received_ok / args.duration, 1),
            "offered_per_s": args.rate if args.mode == "open" else None,
            "due": total("due"),
            "due_answered": total("latency_count"),
        },
        "latency_ms": summarize_ms(latency, 1000),
        "latency_ms_by_action": {k: summarize_ms(v, 1000) for k, v in sorted(by_kind.items())},
        "errors": {
            "callerrors": sum(callerrors.values()),
            "callerror_kinds": callerrors,
            "timeouts": total("answered_late") + total("unanswered"),
            "timeouts_answered_late": total("answered_late"),
            "unanswered": total("unanswered"),
            "disconnects": total("disconnects"),
            "lost_calls": total("lost_calls"),
            "connect_failures": sum(sum(r["connect_failures"].values()) for r in ready),
            "connect_failure_kinds": _sum_counters([r["connect_failures"] for r in ready]),
            "boot_failures": sum(sum(r["boot_failures"].values()) for r in ready),
            "boot_failure_kinds": _sum_counters([r["boot_failures"] for r in ready]),
            "unknown_answers": total("unknown_answers"),
        },
        "setup": {
            "seconds": round(setup_seconds, 3),
            "connect_ms": summarize_ms(_floats([r["connect_ms"] for r in ready])),
            "boot_ms": summarize_ms(_floats([r["boot_ms"] for r in ready])),
        },
        "server": {
            "pid": pid,
            "rss_kib_before": rss_before,
            "rss_kib_connected": rss_connected,
            "rss_kib_after": rss_after,
            "rss_kib_peak": status_after.get("VmHWM", 0),
            "rss_kib_per_connection": round(per_conn, 2),
            "cpu_pct": round(100 * (cpu1 - cpu0) / args.duration, 1)
            if cpu0 is not None and cpu1 is not None
            else None,
            "server_calls": total("server_calls"),
            "log_lines": log_lines,
            "log_tail": log_tail,
        },
        "generator": {
            "processes": args.processes,
            "cpu_pct": round(100 * generator_cpu / args.duration, 1),
        },
        "loadavg_1m_at_start": loadavg,
        "notes": notes,
    }
    return report


@contextlib.contextmanager
def _uninterrupted() -> Any:
    """Clean-up runs to its end: a second Ctrl-C or SIGTERM waits until it is done."""
    caught: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda signum, frame: caught.append(signum))
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if caught:
            raise KeyboardInterrupt


def _git(*args: str) -> str:
    out = subprocess.run(
        ["git", "-C", str(REPO_ROOT), *args], capture_output=True, timeout=60, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {out.stderr.decode(errors='replace').strip()}")
    return out.stdout.decode().strip()


def export_revision(rev: str, into: Path) -> dict[str, str]:
    """Extract the tree of `rev` into `into`; returns what was exported."""
    commit = _git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    archive = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "archive", "--format=tar", commit],
        capture_output=True,
        timeout=120,
        check=True,
    )
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(into, filter="data")
        else:  # pragma: no cover - Python before 3.11.4
            tar.extractall(into)  # our own repository's tree
    return {"rev": commit, "subject": _git("log", "-1", "--format=%s", commit)}


def describe_source(path: Path) -> dict[str, str]:
    out = subprocess.run(
        ["git", "-C", str(path), "describe", "--always", "--dirty"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    info = {"path": str(path)}
    if out.returncode == 0:
        info["describe"] = out.stdout.decode().strip()
    return info


def machine_info() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
                break
    import websockets

    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "mem_total_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "websockets": websockets.__version__,
        "nofile_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    }


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table_rows(run: dict[str, Any]) -> list[tuple[str, str]]:
    c, lat, err, srv = run["connections"], run["latency_ms"], run["errors"], run["server"]
    setup = run["setup"]
    return [
        ("database", run["database"]),
        ("connections held", f"{c['held']:,}/{c['requested']:,}"),
        ("calls/s (answers)", _fmt(run["calls"]["per_s"])),
        ("calls/s (CALLRESULTs)", _fmt(run["calls"]["ok_per_s"])),
        ("latency p50 ms", _fmt(lat.get("p50"), 2)),
        ("latency p95 ms", _fmt(lat.get("p95"), 2)),
        ("latency p99 ms", _fmt(lat.get("p99"), 2)),
        ("latency max ms", _fmt(lat.get("max"), 2)),
        ("CALLERRORs", _fmt(err["callerrors"])),
        ("timeouts (late/never)", f"{err['timeouts_answered_late']:,}/{err['unanswered']:,}"),
        ("disconnects", _fmt(err["disconnects"])),
        ("connect/boot failures", f"{err['connect_failures']:,}/{err['boot_failures']:,}"),
        ("connect+boot all, s", _fmt(setup["seconds"], 2)),
        ("boot p99 ms", _fmt(setup["boot_ms"].get("p99"), 2)),
        ("server RSS before MiB", _fmt(srv["rss_kib_before"] / 1024)),
        ("server RSS connected MiB", _fmt(srv["rss_kib_connected"] / 1024)),
        ("server RSS after MiB", _fmt(srv["rss_kib_after"] / 1024)),
        ("RSS per connection KiB", _fmt(srv["rss_kib_per_connection"])),
        ("server CPU %", _fmt(srv["cpu_pct"])),
        ("generator CPU %", _fmt(run["generator"]["cpu_pct"])),
    ]


def render(report: dict[str, Any]) -> str:
    runs = report["runs"]
    s = report["settings"]
    lines = [
        f"OCPP {s['ocpp']}, {s['mode']} loop"
        + (f" at {s['rate']:,} calls/s offered" if s["mode"] == "open" else "")
        + f", {s['connections']:,} connections, {s['duration']} s measured"
        + f" after {s['warmup']} s warm-up, mix {','.join(s['mix'])}"
    ]
    source = report.get("csms_source")
    if source:
        lines.append(
            "csms from "
            + (
                f"commit {source['rev'][:12]} ({source['subject']})"
                if "rev" in source
                else f"{source['path']} ({source.get('describe', 'not a git checkout')})"
            )
        )
    rows = {r["target"]: dict(table_rows(r)) for r in runs}
    names = [name for name, _ in table_rows(runs[0])]
    targets = [r["target"] for r in runs]
    width = max(len(n) for n in names)
    lines.append(f"{'':<{width}}  " + "  ".join(f"{t:>14}" for t in targets))
    for name in names:
        lines.append(f"{name:<{width}}  " + "  ".join(f"{rows[t][name]:>14}" for t in targets))
    for r in runs:
        by_action = r["latency_ms_by_action"]
        if len(by_action) > 1:
            lines.append(
                f"{r['target']} latency p50/p99 ms by action: "
                + ", ".join(
                    f"{k} {_fmt(v.get('p50'), 2)}/{_fmt(v.get('p99'), 2)}"
                    for k, v in by_action.items()
                )
            )
        kinds = r["errors"]["callerror_kinds"]
        if kinds:
            lines.append(
                f"{r['target']} CALLERRORs: " + ", ".join(f"{k}: {v:,}" for k, v in kinds.items())
            )
        for kind_name in ("connect_failure_kinds", "boot_failure_kinds"):
            if r["errors"][kind_name]:
                lines.append(
                    f"{r['target']} {kind_name.replace('_', ' ')}: {r['errors'][kind_name]}"
                )
        for note in r["notes"]:
            lines.append(f"{r['target']}: {note}")
    if "ratio" in report:
        ratio = report["ratio"]
        lines.append(
            "csms/bare: calls/s "
            + _fmt(ratio["calls_per_s"], 3)
            + ", RSS per connection "
            + _fmt(ratio["rss_per_connection"], 2)
            + ", connect+boot time "
            + _fmt(ratio["setup_seconds"], 2)
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def _cpus(raw: str) -> list[int]:
    cpus: list[int] = []
    for part in raw.split(","):
        lo, _, hi = part.partition("-")
        cpus.extend(range(int(lo), int(hi or lo) + 1))
    return cpus


def _mix(raw: str) -> list[str]:
    keys = [k.strip() for k in raw.split(",") if k.strip()]
    bad = [k for k in keys if k not in MIX_KEYS]
    if not keys or bad:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(MIX_KEYS)}")
    return keys


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.ocpp_load",
        description="Load the OCPP endpoint (csms) and/or a bare websockets responder with "
        "simulated chargers and report throughput, latency, errors and server memory.",
    )
    p.add_argument("--target", choices=("csms", "bare", "both"), default="both")
    p.add_argument("--connections", type=int, default=100, help="chargers to connect (100)")
    p.add_argument("--duration", type=float, default=20.0, help="measured seconds (20)")
    p.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first (2)")
    p.add_argument("--mode", choices=("closed", "open"), default="closed")
    p.add_argument("--rate", type=float, help="open loop: calls/s offered by all chargers")
    p.add_argument("--processes", type=int, default=1, help="load generator processes (1)")
    p.add_argument("--ocpp", choices=("1.6", "2.0.1"), default="1.6")
    p.add_argument(
        "--mix",
        type=_mix,
        default=["heartbeat", "status", "meter"],
        help="the call cycle, from heartbeat,status,meter (all three)",
    )
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    db = p.add_mutually_exclusive_group()
    db.add_argument(
        "--postgres",
        action="store_true",
        help="csms on a fresh PostgreSQL database chargepark_bench_<random>, dropped afterwards",
    )
    db.add_argument("--database-url", help="csms on this (local) database instead of SQLite")
    p.add_argument(
        "--pg-admin-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="where --postgres creates its database",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--csms-src",
        default=str(REPO_ROOT),
        help="the chargepark checkout to run the csms from (this one, as it is on disk)",
    )
    src.add_argument(
        "--csms-rev",
        metavar="REV",
        help="run the csms of this git revision of this repository (exported to a temp dir)",
    )
    p.add_argument("--server-cpus", type=_cpus, default=[0], help="CPUs for the server (0)")
    p.add_argument("--client-cpus", type=_cpus, default=[1], help="CPUs for the generator (1)")
    p.add_argument("--no-pin", action="store_true", help="pin nothing to any CPU")
    p.add_argument(
        "--connect-concurrency",
        type=int,
        default=100,
        help="chargers connecting and booting at once (100; 0: all at once)",
    )
    p.add_argument("--connect-timeout", type=float, default=30.0, help="per charger (30 s)")
    p.add_argument("--setup-timeout", type=float, default=300.0, help="all chargers (300 s)")
    p.add_argument("--timeout", type=float, default=10.0, help="a call's answer (10 s)")
    p.add_argument("--start-timeout", type=float, default=120.0, help="server start (120 s)")
    p.add_argument("--settle", type=float, default=1.0, help="pause before RSS reads (1 s)")
    p.add_argument(
        "--gc-stats",
        metavar="FILE",
        help="time the csms's garbage collections (bench.gc_probe); write them to FILE at its exit",
    )
    p.add_argument(
        "--gc-defaults",
        action="store_true",
        help="with --gc-stats: undo the csms's GC tuning, to measure what it changes",
    )
    return p


def _check_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.connections < 1:
        p.error("--connections must be at least 1")
    if args.duration <= 0 or args.warmup < 0:
        p.error("--duration must be positive and --warmup not negative")
    if not 1 <= args.processes <= args.connections:
        p.error("--processes must be between 1 and --connections")
    if args.mode == "open" and not (args.rate and args.rate > 0):
        p.error("--mode open needs --rate (calls/s offered by all connections together)")
    if args.database_url:
        _local_url(args.database_url, "--database-url")
    _local_url(args.pg_admin_url, "--pg-admin-url")
    if args.no_pin:
        args.server_cpus = args.client_cpus = None
    else:
        allowed = os.sched_getaffinity(0)
        wanted = set(args.server_cpus) | set(args.client_cpus)
        if not wanted <= allowed or set(args.server_cpus) & set(args.client_cpus):
            print(
                f"ocpp_load: CPUs {sorted(allowed)} cannot give server and generator a core "
                "each; nothing is pinned",
                file=sys.stderr,
            )
            args.server_cpus = args.client_cpus = None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_args(parser, args)
    raise_nofile_limit()  # inherited by the server and the workers
    if args.client_cpus:
        os.sched_setaffinity(0, args.client_cpus)

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # Installed outright: a shell starting us in the background leaves SIGINT ignored.
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    targets = ["bare", "csms"] if args.target == "both" else [args.target]
    settings = {
        k: getattr(args, k)
        for k in (
            "target", "connections", "duration", "warmup", "mode", "rate", "processes", "ocpp",
            "mix", "postgres", "connect_concurrency", "timeout", "server_cpus", "client_cpus",
        )
    }  # fmt: skip
    report: dict[str, Any] = {"settings": settings, "machine": machine_info(), "runs": []}
    export_dir: Path | None = None
    try:
        if "csms" in targets:
            if args.csms_rev:
                export_dir = Path(tempfile.mkdtemp(prefix="chargepark-bench-src-"))
                report["csms_source"] = export_revision(args.csms_rev, export_dir)
                args.csms_src = str(export_dir)
            else:
                report["csms_source"] = describe_source(Path(args.csms_src).resolve())
        for target in targets:
            print(f"ocpp_load: running {target} ...", file=sys.stderr, flush=True)
            report["runs"].append(run_target(args, target))
    except KeyboardInterrupt:
        print("ocpp_load: interrupted; everything it started is stopped", file=sys.stderr)
        return 130
    except (RuntimeError, subprocess.SubprocessError) as exc:
        print(f"ocpp_load: {exc}", file=sys.stderr)
        return 1
    finally:
        if export_dir is not None:
            shutil.rmtree(export_dir, ignore_errors=True)
    runs = {r["target"]: r for r in report["runs"]}
    if "bare" in runs and "csms" in runs:
        bare, csms = runs["bare"], runs["csms"]

        def ratio(a: float | None, b: float | None) -> float | None:
            return round(a / b, 4) if a and b and not math.isnan(a) and not math.isnan(b) else None

        report["ratio"] = {
            "calls_per_s": ratio(csms["calls"]["per_s"], bare["calls"]["per_s"]),
            "rss_per_connection": ratio(
                csms["server"]["rss_kib_per_connection"], bare["server"]["rss_kib_per_connection"]
            ),
            "setup_seconds": ratio(csms["setup"]["seconds"], bare["setup"]["seconds"]),
        }
    print(render(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    died = any(note.startswith("the server died") for r in report["runs"] for note in r["notes"])
    return 1 if died else 0


if __name__ == "__main__":
    raise SystemExit(main())
