"""csms: the consumers' retry store, where an event that keeps failing waits, not in the flow.

Revision ID: csms_0011
Revises: csms_0010
"""

from chargepark.db.migrate import create_event_retries_v1, drop_event_retries_v1

revision = "csms_0011"
down_revision = "csms_0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_event_retries_v1()


def downgrade() -> None:
    drop_event_retries_v1()
