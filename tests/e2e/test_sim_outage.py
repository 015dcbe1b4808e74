"""`chargepark sim run` rides out an outage the platform itself survives: the embedded platform
(`chargepark up`, a process of its own) is stopped in the middle of the single visit, while
the car is plugged in, and started again a few seconds later on the same ports and data dir.
The charger reconnects and delivers what it queued meanwhile (1.6 StopTransaction, 2.0.1
TransactionEvent Ended with offline true), the car's leave waits for the platform, and the
visit is invoiced and paid; the summary says what was ridden out."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from pathlib import Path
from typing import BinaryIO

import aiohttp
import pytest

from chargepark.platform.config import MOUNT_PREFIXES
from tests.support.procs import CHARGEPARK, clean_env, free_port

CLIENT = ("sim-outage", "sim-outage-secret-0123456789")
OUTAGE_SEC = 3.0


class EmbeddedPlatform:
    """`chargepark up` on fixed ports and a data dir, which can be stopped and started again."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.port, self.ocpp_port = free_port(), free_port()
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        env = clean_env(
            CHARGEPARK_DATA_DIR=str(self.data),
            CHARGEPARK_HTTP_PORT=str(self.port),
            CHARGEPARK_OCPP_PORT=str(self.ocpp_port),
            CHARGEPARK_BOOTSTRAP_CLIENT_ID=CLIENT[0],
            CHARGEPARK_BOOTSTRAP_CLIENT_SECRET=CLIENT[1],
            CHARGEPARK_BILLING_JOB_INTERVAL="1",
            CHARGEPARK_BILLING_SETTLE_SEC="1",
            CHARGEPARK_LOG_LEVEL="warning",
        )
        self.starts += 1
        log = _log_file(self.data / f"platform-{self.starts}.log")
        self.proc = await asyncio.create_subprocess_exec(
            *CHARGEPARK, "up", env=env, stdout=log, stderr=asyncio.subprocess.STDOUT
        )
        log.close()  # the child has its own descriptor
        await self._ready()

    async def _ready(self, within: float = 30.0) -> None:
        """Each service's /readyz answers 200 (its database and the bus are there)."""
        deadline = time.monotonic() + within
        async with aiohttp.ClientSession() as http:
            for prefix in MOUNT_PREFIXES.values():
                while True:
                    assert self.proc is not None and self.proc.returncode is None, self.log()
                    with contextlib.suppress(aiohttp.ClientConnectionError):
                        async with http.get(f"{self.url}{prefix}/readyz") as r:
                            if r.status == 200:
                                break
                    assert time.monotonic() < deadline, f"{prefix} not ready:\n{self.log()}"
                    await asyncio.sleep(0.1)

    async def stop(self) -> None:
        assert self.proc is not None
        self.proc.terminate()
        assert await asyncio.wait_for(self.proc.wait(), 30) == 0, self.log()
        self.proc = None

    def log(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.data.glob("*.log")))


def _log_file(path: Path) -> BinaryIO:
    return path.open("wb")


@pytest.mark.parametrize("ocpp", ["1.6", "2.0.1"])
async def test_sim_run_rides_out_the_platform_stopped_and_started_again_mid_visit(tmp_path, ocpp):
    platform = EmbeddedPlatform(tmp_path)
    await platform.start()
    sim = await asyncio.create_subprocess_exec(
        *CHARGEPARK,
        "sim",
        "run",
        "single-visit",
        "--url",
        platform.url,
        "--ocpp-url",
        f"ws://127.0.0.1:{platform.ocpp_port}/ocpp",
        "--client-id",
        CLIENT[0],
        "--client-secret",
        CLIENT[1],
        "--speed",
        "900",
        "--invoice-wait",
        "30",
        "--ocpp",
        ocpp,
        env=clean_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert sim.stdout is not None and sim.stderr is not None
    lines: list[str] = []
    outage = False
    try:
        async with asyncio.timeout(90):
            while raw := await sim.stdout.readline():
                lines.append(raw.decode().rstrip())
                if not outage and "has taken" in lines[-1]:
                    # The car has charged; its stop (1:25), unplug and leave (2:15:30) fall in
                    # the outage or just after it, at x900 a simulated minute every 67 ms.
                    outage = True
                    await platform.stop()
                    await asyncio.sleep(OUTAGE_SEC)
                    await platform.start()
            err = (await sim.stderr.read()).decode()
            code = await sim.wait()
    finally:
        if sim.returncode is None:
            sim.kill()
            await sim.wait()
        if platform.proc is not None:
            await platform.stop()
    out = "\n".join(lines)
    assert outage, out
    assert code == 0, f"{out}\n{err}"
    assert "problems:" not in out, out
    assert re.search(r"visits 1, sessions 1 \(1 closed\)", out), out
    assert re.search(r"^invoices 1 \(1 paid\)", out, re.M), out
    assert "leaves after 2:15" in out, out
    # The outage shows: the charger lost its connection, and REST calls were tried again.
    retries = re.search(r"^retries: REST (.*); OCPP (\d+) connection\(s\) lost", out, re.M)
    assert retries is not None, out
    assert int(retries.group(2)) >= 1, out
    assert "retried" in retries.group(1), out
