"""`chargepark demo` as a user runs it: a real process, to the end, in under a minute."""

from __future__ import annotations

import re
import time

from tests.support.procs import run_cli


def test_the_demo_plays_one_visit_to_a_paid_invoice_in_under_a_minute():
    began = time.monotonic()
    done = run_cli("demo", timeout=90)
    took = time.monotonic() - began
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert took < 60, took
    out = done.stdout
    for step in (
        "parks in slot 1",
        "plugs into",
        "presents card",
        "has taken 14.300 kWh",
        "charging stops",
        "unplugs",
        "leaves after",
    ):
        assert step in out, step
    assert re.search(r"invoice inv_\w+ paid: net [\d.]+ \+ tax [\d.]+ = [\d.]+ EUR", out)
    assert re.search(r"CHARGING\s+6\.08", out)
    assert "/billing/invoices/inv_" in out
    assert done.stderr == ""
