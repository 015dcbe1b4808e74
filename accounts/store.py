"""The accounts service's tables. Only this package reads or writes them."""

from __future__ import annotations

from chargepark.db.metadata import service_metadata
from chargepark.db.tables import kernel_tables

metadata = service_metadata()
kernel = kernel_tables(metadata)
