"""Fixtures of the ops unit tests: the service on a SQLite file with a clock that stands still."""

from __future__ import annotations

import pytest

from tests.unit.ops.support import Ops, build_ops


@pytest.fixture
async def ops(sqlite_db, clock) -> Ops:
    return await build_ops(sqlite_db, clock)
