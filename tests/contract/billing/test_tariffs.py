"""TariffRepository: versions come back in order, and a version is written once."""

from __future__ import annotations

from dataclasses import replace

import pytest

from billing.domain.tariff import standard_tariff
from chargepark.errors import Conflict
from tests.conftest import T0
from tests.support.billing import at


async def test_versions_come_back_in_order_and_a_version_is_written_once(units):
    first = standard_tariff(T0)
    second = replace(first, version=2, name="Second", valid_from=at(60))
    other = replace(first, id="T_NIGHT")
    async with units() as uow:
        assert await uow.tariffs.versions(first.id) == []
        await uow.tariffs.add(second, T0)
        await uow.tariffs.add(first, T0)
        await uow.tariffs.add(other, T0)
        await uow.commit()
    async with units() as uow:
        assert await uow.tariffs.versions(first.id) == [first, second]
        assert await uow.tariffs.all() == {"T_NIGHT": [other], "T_STD": [first, second]}
        with pytest.raises(Conflict):
            await uow.tariffs.add(first, T0)
