"""The load test (`chargepark sim load`): many simulated chargers against a running csms.

An outside client of the platform: it speaks OCPP-J over WebSocket and imports nothing of the
services. N chargers (OCPP 1.6, 2.0.1 or both) connect at a given concurrency or rate, boot,
then send Heartbeat, StatusNotification and MeterValues calls, closed loop (as fast as the
server answers) or open loop (on a schedule); the report gives connections held, calls/s,
p50/p95/p99 latency and errors, as text and JSON.

It must stay cheaper than the server it loads: a minimal RFC 6455 client on `asyncio.Protocol`
(`websocket`), calls from pre-made templates (`frames`), answers matched by message id without
decoding them (`worker`), and several processes when one core is not enough (`fanout`).

    main(["--url", "ws://127.0.0.1:9000/ocpp", "--connections", "100", "--duration", "20"])

`bench/ocpp_load.py` drives the same engine against a server it starts and measures itself.
"""

from __future__ import annotations

from simulators.load.cli import main
from simulators.load.runner import run
from simulators.load.spec import LoadSpec
from simulators.load.websocket import Endpoint

__all__ = ["Endpoint", "LoadSpec", "main", "run"]
