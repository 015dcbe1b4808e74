"""Database layer: async engines, the kernel's tables (outbox, inbox), units of work, migrations."""

from chargepark.db.engine import Database
from chargepark.db.tables import kernel_tables

__all__ = ["Database", "kernel_tables"]
