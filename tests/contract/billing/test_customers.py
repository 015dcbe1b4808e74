"""CustomerRepository: billing's projection of accounts, where the newest event wins."""

from __future__ import annotations

from tests.support.billing import at


async def test_the_newest_link_wins_and_an_unlink_leaves_a_tombstone(units):
    async with units() as uow:
        await uow.customers.link_vehicle("AB123", "c-1", at(10))
        await uow.customers.link_vehicle("AB123", "c-0", at(5))  # older: ignored
        await uow.customers.unlink_vehicle("AB123", "c-9", at(20))  # someone else's: ignored
        await uow.customers.link_vehicle("CD456", "c-2", at(10))
        await uow.customers.unlink_vehicle("CD456", "c-2", at(20))
        await uow.customers.link_vehicle("CD456", "c-2", at(15))  # before the unlink
        await uow.commit()
    async with units() as uow:
        assert await uow.customers.of_regnums(["CD456", "AB123"]) == "c-1"
        assert await uow.customers.of_regnums(["CD456"]) is None


async def test_tokens_name_their_customer_in_the_order_asked(units):
    async with units() as uow:
        await uow.customers.put_token("RFID-1", "c-1", "Accepted", at(10))
        await uow.customers.put_token("RFID-1", "c-0", "Accepted", at(5))  # older: ignored
        await uow.customers.put_token("RFID-2", "c-2", "Blocked", at(10))
        await uow.commit()
    async with units() as uow:
        assert await uow.customers.of_tokens(["RFID-9", "RFID-2", "RFID-1"]) == "c-2"
        assert await uow.customers.of_tokens(["RFID-1"]) == "c-1"
        assert await uow.customers.of_tokens([]) is None


async def test_a_customer_gets_the_providers_id_once_set(units):
    async with units() as uow:
        await uow.customers.seen("c-1", at(0))
        await uow.customers.seen("c-1", at(1))
        assert await uow.customers.provider_customer_id("c-1") is None
        await uow.customers.set_provider_customer_id("c-2", "cus_2", at(2))  # unseen before
        await uow.commit()
    async with units() as uow:
        assert await uow.customers.provider_customer_id("c-2") == "cus_2"
        assert await uow.customers.provider_customer_id("c-9") is None
