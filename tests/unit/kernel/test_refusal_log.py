"""Refused malformed requests are logged in bursts, so a client cannot flood the log."""

from __future__ import annotations

import logging

from chargepark.http.server import RefusalLog


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_past_the_burst_refusals_are_counted_and_told_in_one_line(caplog):
    ticks = Ticks()
    refusals = RefusalLog(burst=3, window_sec=60, clock=ticks)
    with caplog.at_level(logging.WARNING, logger="chargepark.http.server"):
        for _ in range(1000):
            refusals.refused(400, "192.0.2.1", "Invalid header value char")
        assert len(caplog.records) == 3
        ticks.now = 60.0
        refusals.refused(400, "192.0.2.1", "Invalid header value char")
    summary = caplog.records[3]
    assert summary.getMessage() == "more malformed HTTP requests were refused"
    assert summary.count == 997
    assert len(caplog.records) == 5  # the summary, then the first line of the new window
    assert not any(r.exc_info for r in caplog.records)
