"""The yardstick: the least an OCPP-J server can do on top of the `websockets` library.

It accepts the ocpp1.6 and ocpp2.0.1 subprotocols at any path, decodes each frame with
`json.loads` and answers every CALL with a CALLRESULT carrying a fixed, plausible payload.
No schema validation, no storage, no logging per message. Whatever the real csms costs beyond
this is the price of OCPP handling, validation and persistence.

    python -m bench.bare_responder --port 9100
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import signal
from datetime import UTC, datetime

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

SUBPROTOCOLS = ["ocpp2.0.1", "ocpp1.6"]
HEARTBEAT_INTERVAL_SEC = 300
_dumps = json.JSONEncoder(separators=(",", ":")).encode


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def answer(action: str) -> dict[str, object]:
    """The CALLRESULT payload for a CALL of `action` (both OCPP versions use these keys)."""
    if action == "Heartbeat":
        return {"currentTime": _now()}
    if action == "BootNotification":
        return {"currentTime": _now(), "interval": HEARTBEAT_INTERVAL_SEC, "status": "Accepted"}
    return {}  # StatusNotification, MeterValues and anything else


async def _handle(conn: ServerConnection) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for frame in conn:
            try:
                msg = json.loads(frame)
            except ValueError:
                continue
            if isinstance(msg, list) and len(msg) >= 3 and msg[0] == 2:
                await conn.send(_dumps([3, msg[1], answer(msg[2])]))


def raise_nofile_limit() -> int:
    """Raise the soft open-files limit to the hard one; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def run(host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with serve(
        _handle,
        host,
        port,
        subprotocols=SUBPROTOCOLS,
        max_size=64 * 1024,  # the same limits as the csms endpoint
        compression=None,
    ):
        print(f"bare responder listening on ws://{host}:{port}/", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bare_responder",
        description="A bare OCPP-J responder over websockets: the benchmark's yardstick.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, required=True, help="port to listen on")
    args = parser.parse_args(argv)
    raise_nofile_limit()
    asyncio.run(run(args.host, args.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
