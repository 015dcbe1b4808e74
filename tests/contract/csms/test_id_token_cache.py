"""The IdTokenCache port: the same cases in memory and on SQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from csms.adapters.id_token_cache import SqlIdTokenCache
from csms.domain.authorization import Authorization
from csms.ports.authorization import IdTokenCache
from tests.support.fakes.csms.authorization import InMemoryIdTokenCache


@pytest.fixture
def cache(backend) -> IdTokenCache:
    return InMemoryIdTokenCache() if backend.fake else SqlIdTokenCache(backend.db)


async def test_an_unseen_token_has_no_entry(cache):
    assert await cache.get("NEVER") is None


async def test_an_entry_reads_back_as_written_and_a_second_write_replaces_it(cache, clock):
    expires = clock.now() + timedelta(days=30)
    await cache.put("RFID-1", Authorization("Accepted", "c-1", expires), clock.now())
    assert await cache.get("RFID-1") == (Authorization("Accepted", "c-1", expires), clock.now())
    clock.advance(minutes=6)
    await cache.put("RFID-1", Authorization("Blocked", "c-1"), clock.now())
    assert await cache.get("RFID-1") == (Authorization("Blocked", "c-1"), clock.now())
