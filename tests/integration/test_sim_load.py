"""`chargepark sim load` (simulators.load.main) against a running csms, as an outside client.

Short runs (about a second measured, 5 to 10 chargers): the report's shape, every call
answered, no errors. Nothing here asserts a speed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from chargepark.auth import StaticJwks, TokenVerifier
from chargepark.events.inprocess import InProcessBus
from chargepark.platform.config import load_settings
from chargepark.platform.runtime import Platform
from simulators import load
from tests.support.procs import free_port
from tests.support.tokens import TokenIssuer

PASSWORD = "sixteen-chars-pw!"
SHORT = ["--duration", "1", "--warmup", "0.5", "--timeout", "5"]


class Csms:
    def __init__(self, platform: Platform, token: str) -> None:
        self.platform = platform
        self.headers = {"Authorization": f"Bearer {token}"}
        s = platform.settings
        self.ocpp = f"ws://{s.host}:{s.ocpp_port}{s.ocpp_path}"


async def start_csms(tmp_path: Path, policy: str, **env: str) -> Csms:
    issuer = TokenIssuer()
    settings = load_settings(
        {"CHARGEPARK_DATA_DIR": str(tmp_path), "CHARGEPARK_OCPP_UNKNOWN": policy, **env},
        {"http_port": free_port(), "ocpp_port": free_port()},
        services=("csms",),
    )
    platform = Platform(
        settings, ("csms",), bus=InProcessBus(), verifier=TokenVerifier(StaticJwks(issuer.jwks))
    )
    await platform.start()
    return Csms(platform, issuer.issue("charging:read charging:write"))


@pytest.fixture
async def open_csms(tmp_path) -> AsyncIterator[Csms]:
    """A csms that lets in (and registers) any charger id."""
    csms = await start_csms(tmp_path, "accept")
    yield csms
    await csms.platform.stop()


def run_load(folder: Path, argv: list[str]) -> tuple[int, dict[str, Any]]:
    out = folder / f"load-{len(list(folder.glob('load-*.json')))}.json"
    code = load.main([*argv, "--json", str(out)])
    return code, json.loads(out.read_text()) if out.exists() else {}


async def sim_load(tmp_path: Path, *argv: str) -> tuple[int, dict[str, Any]]:
    """Run the load test in a thread (the csms runs on this event loop); its exit code and
    JSON report."""
    return await asyncio.to_thread(run_load, tmp_path, list(argv))


def assert_clean(report: dict[str, Any], chargers: int) -> None:
    """Every charger connected, booted and held; calls answered; no error of any kind."""
    assert report["connections"] == {
        "requested": chargers,
        "opened": chargers,
        "booted": chargers,
        "held": chargers,
    }
    calls = report["calls"]
    assert calls["received"] > 0 and calls["per_s"] > 0
    assert calls["received_ok"] == calls["received"]
    assert calls["due_answered"] == calls["due"] > 0
    for key in ("p50", "p95", "p99", "max"):
        assert report["latency_ms"][key] >= 0
    assert report["latency_ms"]["p50"] <= report["latency_ms"]["p99"]
    errors = report["errors"]
    for key in (
        "callerrors",
        "timeouts",
        "disconnects",
        "lost_calls",
        "connect_failures",
        "boot_failures",
        "unknown_answers",
    ):
        assert errors[key] == 0, errors
    assert report["setup"]["seconds"] >= 0
    assert report["generator"]["cpu_pct"] >= 0
    assert report["machine"]["nproc"] >= 1


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_closed_loop_against_the_csms(open_csms, tmp_path, version) -> None:
    code, report = await sim_load(
        tmp_path, "--url", open_csms.ocpp, "--connections", "8", "--ocpp", version, *SHORT
    )
    assert code == 0
    assert_clean(report, 8)
    assert report["tool"] == "chargepark sim load"
    settings = report["settings"]
    assert settings["url"] == open_csms.ocpp
    assert (settings["ocpp"], settings["mode"], settings["rate"]) == (version, "closed", None)
    assert settings["mix"] == ["heartbeat", "status", "meter"]
    assert set(report["latency_ms_by_action"]) == {
        "Heartbeat",
        "StatusNotification",
        "MeterValues",
    }
    assert list(report["by_ocpp"]) == [version]
    assert report["by_ocpp"][version]["booted"] == 8
    assert report["notes"] == []


async def test_open_loop_with_both_versions_in_two_processes(open_csms, tmp_path) -> None:
    code, report = await sim_load(
        tmp_path,
        "--url",
        open_csms.ocpp,
        "--connections",
        "10",
        "--ocpp",
        "mixed",
        "--mode",
        "open",
        "--rate",
        "60",
        "--processes",
        "2",
        "--connect-rate",
        "40",
        "--mix",
        "heartbeat,meter",
        "--id-prefix",
        "mix-",
        *SHORT,
    )
    assert code == 0
    assert_clean(report, 10)
    assert report["settings"]["rate"] == 60 and report["settings"]["interval"] == pytest.approx(
        10 / 60, abs=1e-3
    )
    assert report["calls"]["offered_per_s"] == 60
    # 60 calls/s offered for 1 s: about 60 fall due in the window, each answered
    assert 40 <= report["calls"]["due"] <= 80
    assert set(report["latency_ms_by_action"]) == {"Heartbeat", "MeterValues"}
    assert set(report["by_ocpp"]) == {"1.6", "2.0.1"}
    for version in ("1.6", "2.0.1"):
        assert report["by_ocpp"][version]["requested"] == 5
        assert report["by_ocpp"][version]["booted"] == 5
        assert report["by_ocpp"][version]["latency_ms"]["count"] > 0
    # paced at 40 connections/s: the tenth charger starts 0.225 s after the first
    assert report["setup"]["seconds"] >= 0.2
    assert report["generator"]["processes"] == 2


async def start_tls_csms(tmp_path: Path) -> tuple[Csms, Any, str]:
    """A csms refusing unknown chargers, also on wss:// (security profile 2): with the
    certificates (`ca_file` to trust) and the wss:// URL."""
    from tests.support.tls import make_pki

    pki = make_pki(tmp_path)
    tls_port = free_port()
    csms = await start_csms(
        tmp_path,
        "reject",
        CHARGEPARK_OCPP_TLS_PORT=str(tls_port),
        CHARGEPARK_OCPP_TLS_CERT=str(pki.cert_file),
        CHARGEPARK_OCPP_TLS_KEY=str(pki.key_file),
    )
    return csms, pki, f"wss://127.0.0.1:{tls_port}/ocpp"


async def test_registered_chargers_over_tls_with_a_password(tmp_path) -> None:
    csms, pki, secure = await start_tls_csms(tmp_path)
    try:
        # Unknown ids refused: nothing measured, exit code 1, and the report says what to do.
        code, report = await sim_load(
            tmp_path, "--url", csms.ocpp, "--connections", "3", "--id-prefix", "reg-", *SHORT
        )
        assert code == 1
        assert report["connections"]["booted"] == 0
        assert report["errors"]["connect_failure_kinds"] == {"HTTP 404 Not Found": 3}
        assert report["calls"]["received"] == 0
        assert any("CHARGEPARK_OCPP_UNKNOWN=accept" in note for note in report["notes"])

        async with aiohttp.ClientSession() as http:
            for i in range(3):  # each registration hashes its password (argon2)
                async with http.post(
                    csms.platform.base_url + "/chargers",
                    json={"id": f"reg-{i:06d}", "password": PASSWORD},
                    headers=csms.headers,
                ) as r:
                    assert r.status == 201
        argv = ["--url", secure, "--cafile", str(pki.ca_file), "--connections", "3"]
        code, report = await sim_load(tmp_path, *argv, "--id-prefix", "reg-", *SHORT)
        assert code == 1
        assert report["errors"]["connect_failure_kinds"] == {"HTTP 401 Unauthorized": 3}
        assert any("--password" in note for note in report["notes"])

        code, report = await sim_load(
            tmp_path, *argv, "--id-prefix", "reg-", "--password", PASSWORD, *SHORT
        )
        assert code == 0
        assert_clean(report, 3)
        assert report["settings"]["password"] is True
        assert PASSWORD not in json.dumps(report)
    finally:
        await csms.platform.stop()


async def test_the_charger_simulator_boots_over_tls_with_its_password(tmp_path) -> None:
    """`chargepark sim charger --ca-file ... --password ...` against security profile 2."""
    from simulators.chargepoint import ChargePointSimulator, ChargerConfig

    csms, pki, secure = await start_tls_csms(tmp_path)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(
                csms.platform.base_url + "/chargers",
                json={"id": "SIM-TLS", "password": PASSWORD},
                headers=csms.headers,
            ) as r:
                assert r.status == 201
            for version in ("1.6", "2.0.1"):
                config = ChargerConfig(
                    "SIM-TLS", secure, ocpp=version, password=PASSWORD, ca_file=str(pki.ca_file)
                )
                async with ChargePointSimulator(config) as charger:
                    await charger.wait_booted(within=15)
                    async with http.get(
                        csms.platform.base_url + "/chargers/SIM-TLS", headers=csms.headers
                    ) as r:
                        state = await r.json()
                    assert (state["connected"], state["ocpp_version"]) == (True, version)
        # Without the CA the simulator does not trust the endpoint: it never boots.
        untrusted = ChargerConfig("SIM-TLS", secure, password=PASSWORD)
        async with ChargePointSimulator(untrusted) as charger:
            with pytest.raises(TimeoutError):
                await charger.wait_booted(within=1.5)
    finally:
        await csms.platform.stop()


async def test_chargers_left_pending_are_reported_not_measured(tmp_path) -> None:
    csms = await start_csms(tmp_path, "pending")
    try:
        code, report = await sim_load(tmp_path, "--url", csms.ocpp, "--connections", "3", *SHORT)
    finally:
        await csms.platform.stop()
    assert code == 1
    assert report["connections"]["opened"] == 3 and report["connections"]["booted"] == 0
    assert report["errors"]["boot_failure_kinds"] == {"Pending or other": 3}
    assert report["calls"]["received"] == 0
    assert any("Pending" in note for note in report["notes"])


def test_the_url_the_ids_and_the_shares_of_the_processes() -> None:
    endpoint = load.Endpoint.from_url("wss://csms.example:8443/ocpp/")
    assert (endpoint.host, endpoint.port, endpoint.path_prefix, endpoint.tls) == (
        "csms.example",
        8443,
        "/ocpp/",
        True,
    )
    assert load.Endpoint.from_url("ws://10.0.0.1/ocpp").port == 80
    spec = load.LoadSpec(
        endpoint, connections=7, ocpp=("1.6", "2.0.1"), processes=2, connect_rate=10
    )
    assert [spec.charger_id(i) for i in (0, 6)] == ["load-000000", "load-000006"]
    assert [spec.version_of(i) for i in range(3)] == ["1.6", "2.0.1", "1.6"]
    shares = spec.shares()
    assert [(w.first, w.count) for w in shares] == [(0, 4), (4, 3)]
    # the processes interleave their connections: together, one every 0.1 s
    offsets = sorted(w.connect_offset(i) for w in shares for i in range(w.count))
    assert offsets == pytest.approx([i / 10 for i in range(7)])
    assert spec.setup_budget == pytest.approx(0.7 + 300)


@pytest.mark.parametrize(
    "argv",
    [
        ["--bogus"],
        ["--connections", "0"],
        ["--mode", "open"],
        ["--url", "http://127.0.0.1:9000/ocpp"],
        ["--ocpp", "1.5"],
        ["--connections", "2", "--processes", "3"],
    ],
)
def test_a_bad_flag_is_one_line_and_exit_code_2(capsys, argv) -> None:
    assert load.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("chargepark sim load: error: ")
