"""Alembic environment of the csms service (driven by chargepark.db.migrate)."""

from chargepark.db.migrate import run_env
from csms.adapters.tables import metadata

run_env(metadata)
