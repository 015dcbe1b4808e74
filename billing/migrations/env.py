"""Alembic environment of the billing service (driven by chargepark.db.migrate)."""

from billing.store import metadata
from chargepark.db.migrate import run_env

run_env(metadata)
