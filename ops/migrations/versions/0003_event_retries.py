"""ops: the consumers' retry store, where an event that keeps failing waits, not in the flow.

Revision ID: ops_0003
Revises: ops_0002
"""

from chargepark.db.migrate import create_event_retries_v1, drop_event_retries_v1

revision = "ops_0003"
down_revision = "ops_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_event_retries_v1()


def downgrade() -> None:
    drop_event_retries_v1()
