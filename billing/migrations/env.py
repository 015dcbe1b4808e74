"""Alembic environment of the billing service (driven by chargepark.db.migrate)."""

from chargepark.db.migrate import run_env
from billing.store import metadata

run_env(metadata)
