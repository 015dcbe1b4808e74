"""The process's logging: libraries' routine info lines stay out; our info lines and every
warning show."""

from __future__ import annotations

import logging

import pytest

from chargepark.logging import configure_logging


@pytest.fixture
def restored():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


@pytest.mark.parametrize(
    "noisy", ["apscheduler.scheduler", "apscheduler.executors.default", "aiohttp.access"]
)
def test_libraries_routine_lines_are_quiet_and_their_warnings_show(restored, noisy):
    configure_logging("info", "text")
    library = logging.getLogger(noisy)
    assert not library.isEnabledFor(logging.INFO)
    assert library.isEnabledFor(logging.WARNING)
    assert logging.getLogger("chargepark.runtime").isEnabledFor(logging.INFO)
