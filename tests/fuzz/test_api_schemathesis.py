"""Every service's OpenAPI document, fuzzed with schemathesis against a running `chargepark up`.

Requests are generated from each operation's document (path parameters, bodies) and sent with an
admin token, plus a few without one. Each answer must be no 5xx, with a documented status and
content type, and a body that conforms to the documented schema. Deterministic (derandomized);
EXAMPLES per operation in `make test`, many more with TEST_CHAOS=full.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from chargepark.platform.config import MOUNT_PREFIXES, SERVICES
from tests.support.procs import CHARGEPARK, clean_env, free_port, wait_http

FULL = os.environ.get("TEST_CHAOS") == "full"
# Per operation, authenticated (as many again with invalid data); FUZZ_EXAMPLES overrides.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES") or (200 if FULL else 8))
ANONYMOUS_EXAMPLES = 10 if FULL else 2  # per operation, without a token
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
POSITIVE, NEGATIVE = schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE
CLIENT_ID, CLIENT_SECRET = "fuzzer", "fuzzer-secret-0123456789abcdef"


@dataclass
class Site:
    base: str
    token: str
    log: Path


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Site]:
    data = tmp_path_factory.mktemp("fuzz")
    port, ocpp = free_port(), free_port()
    env = clean_env(
        CHARGEPARK_DATA_DIR=str(data),
        CHARGEPARK_HTTP_PORT=str(port),
        CHARGEPARK_OCPP_PORT=str(ocpp),
        CHARGEPARK_BOOTSTRAP_CLIENT_ID=CLIENT_ID,
        CHARGEPARK_BOOTSTRAP_CLIENT_SECRET=CLIENT_SECRET,
    )
    log = data / "stderr.log"
    with log.open("w") as err:
        proc = subprocess.Popen([*CHARGEPARK, "up"], env=env, stdout=subprocess.DEVNULL, stderr=err)
        try:
            base = f"http://127.0.0.1:{port}"
            for prefix in MOUNT_PREFIXES.values():
                assert wait_http(f"{base}{prefix}/healthz") == 200
            yield Site(base, token(base), log)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)


def token(base: str) -> str:
    form = urllib.parse.urlencode(
        {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    ).encode()
    with urllib.request.urlopen(f"{base}/accounts/auth/token", data=form) as r:
        return json.load(r)["access_token"]


def fuzz(
    operation,
    mode: schemathesis.GenerationMode,
    base_url: str,
    headers: dict[str, str],
    examples: int,
    sent: list,
) -> None:
    session = requests.Session()

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case) -> None:
        sent.append(1)
        case.call_and_validate(base_url=base_url, session=session, headers=headers, checks=CHECKS)

    try:
        run()
    finally:
        session.close()


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_answers_as_its_document_says(site, service):
    base_url = site.base + MOUNT_PREFIXES[service]
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    failures: list[str] = []
    sent: list[int] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        admin = {"Authorization": f"Bearer {site.token}"}
        for who, mode, headers, examples in (
            ("admin", POSITIVE, admin, EXAMPLES),
            ("admin, invalid data", NEGATIVE, admin, EXAMPLES),
            ("anonymous", POSITIVE, {}, ANONYMOUS_EXAMPLES),
        ):
            try:
                fuzz(operation, mode, base_url, headers, examples, sent)
            except Unsatisfiable:
                # No parameter and no body: nothing to make invalid (GET /healthz).
                assert mode is NEGATIVE, operation.label
            except (Exception, BaseExceptionGroup) as exc:
                # Every failing operation is reported, not only the first (schemathesis
                # raises a group of the distinct failures it found in one).
                failures.append(f"{operation.label} ({who}): {exc}")
    print(f"{service}: {operations} operations, {len(sent)} requests")  # shown with -s
    assert operations > 0
    assert not failures, "\n\n".join(failures)


def test_the_fuzzed_platform_logged_no_traceback(site):
    lines = [json.loads(line) for line in site.log.read_text().splitlines() if line.strip()]
    assert not [ln for ln in lines if "exc" in ln or ln["level"] in ("error", "critical")]
