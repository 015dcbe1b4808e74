"""Fixtures of the ops integration tests: the service on a SQLite file, a clock standing still."""

from __future__ import annotations

import pytest

from tests.support.ops import Ops, build_ops


@pytest.fixture
async def ops(sqlite_db, clock) -> Ops:
    return await build_ops(sqlite_db, clock)
