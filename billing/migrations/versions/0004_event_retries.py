"""billing: the consumers' retry store, where an event that keeps failing waits, not in the flow.

Revision ID: billing_0004
Revises: billing_0003
"""

from chargepark.db.migrate import create_event_retries_v1, drop_event_retries_v1

revision = "billing_0004"
down_revision = "billing_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_event_retries_v1()


def downgrade() -> None:
    drop_event_retries_v1()
