"""`chargepark demo`: the test drive. The whole platform in this process (temporary data dir,
free ports), then the single-visit scenario through its REST and OCPP edges, as any outside
client would play it: park, plug, authorize, charge, stop, leave, invoice issued and paid.

This is the one simulator module that imports the platform's services: to start the embedded
platform. Everything after that goes over HTTP and WebSocket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import tempfile
import time
from collections.abc import Callable
from typing import Any

from simulators.rest import PlatformClient
from simulators.scenario.model import Scenario, builtin, load
from simulators.scenario.runner import ScenarioRunner
from simulators.scenario.summary import render_summary

CLIENT_ID = "demo"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def run_demo(
    speed: float = 480.0,
    version: str = "1.6",
    *,
    keep: bool = False,
    out: Callable[[str], None] | None = None,
) -> int:
    from chargepark.logging import configure_logging
    from chargepark.platform.config import SERVICES, load_settings
    from chargepark.platform.runtime import Platform

    def say(line: str = "") -> None:
        (out or (lambda s: print(s, flush=True)))(line)

    began = time.monotonic()
    secret = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="chargepark-demo-") as data_dir:
        env = _environment(data_dir, secret)
        settings = load_settings(env)
        configure_logging(settings.log_level, settings.log_format)
        logging.getLogger("ocpp").setLevel(logging.CRITICAL)
        platform = Platform(settings, SERVICES)
        say("chargepark demo: one visit, end to end, on an accelerated clock")
        say(f"starting the platform (all five services, SQLite in {data_dir}) ...")
        await platform.start()
        base = platform.base_url
        ocpp = f"ws://{settings.host}:{settings.ocpp_port}{settings.ocpp_path}"
        provider = (
            "Stripe" if env.get("CHARGEPARK_STRIPE_API_KEY") else "the local payment provider"
        )
        say(f"  REST {base}   OCPP {ocpp}/{{charge_point_id}}   payments: {provider}")
        try:
            scenario = load(builtin("single-visit")).with_version(version)
            say(f"scenario {scenario.name}: {scenario.description}")
            async with PlatformClient(base, client_id=CLIENT_ID, client_secret=secret) as client:
                runner = ScenarioRunner(
                    scenario, client, ocpp, speed=speed, out=say, invoice_wait=30
                )
                summary = await runner.run()
            for line in render_summary(summary, base):
                say(line)
            paid = [i for i in summary.invoices if i["status"] == "paid"]
            say()
            if not paid:
                say("the visit was not invoiced and paid in time: see the problems above")
                return 1
            _where_to_look(say, paid[0], scenario, base, secret, time.monotonic() - began)
            if keep:
                say("the platform keeps running: Ctrl-C stops it")
                await _until_stopped()
            else:
                say("the platform stops now (its data goes with it); --keep leaves it running")
            return 0
        finally:
            with contextlib.suppress(Exception):
                await platform.stop()


def _environment(data_dir: str, secret: str) -> dict[str, str]:
    """The embedded platform's settings: free ports, the temporary data dir, a bootstrap API
    client, a billing job that runs every second; Stripe's settings when they are set."""
    env = {k: v for k, v in os.environ.items() if k.startswith("CHARGEPARK_STRIPE_")}
    env |= {
        "CHARGEPARK_DATA_DIR": data_dir,
        "CHARGEPARK_HTTP_PORT": str(_free_port()),
        "CHARGEPARK_OCPP_PORT": str(_free_port()),
        "CHARGEPARK_BOOTSTRAP_CLIENT_ID": CLIENT_ID,
        "CHARGEPARK_BOOTSTRAP_CLIENT_SECRET": secret,
        "CHARGEPARK_BILLING_JOB_INTERVAL": "1",
        "CHARGEPARK_BILLING_SETTLE_SEC": "2",
        "CHARGEPARK_LOG_LEVEL": "error",
        "CHARGEPARK_LOG_FORMAT": "text",
    }
    return env


def _where_to_look(
    say: Callable[..., None],
    inv: dict[str, Any],
    scenario: Scenario,
    base: str,
    secret: str,
    took: float,
) -> None:
    """The paid invoice, and the platform's pages that show the visit."""
    say(
        f"done in {took:.0f} s: invoice {inv['id']} "
        f"{inv['total_minor'] / 100:.2f} {inv['currency']} paid; the simulated visit "
        "(2 h 15 min) ran on a simulated clock started in the past, so the gate times "
        "and OCPP timestamps billing priced are real past times."
    )
    say("where to look (a bearer token is needed; get one with the client below):")
    say(f"  {base}/billing/invoices/{inv['id']}")
    say(f"  {base}/billing/visits/{inv['visit_id']}")
    say(f"  {base}/charging/sessions?charger_id={scenario.chargers[0].id}")
    say(f"  {base}/parking/lots/{scenario.lot.id}/history")
    say(
        f"  TOKEN=$(curl -s -u {CLIENT_ID}:{secret} -d grant_type=client_credentials "
        f"{base}/accounts/auth/token | python3 -c "
        "'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')"
    )


async def _until_stopped() -> None:
    """Until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
