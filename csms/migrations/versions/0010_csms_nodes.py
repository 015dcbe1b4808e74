"""csms: each node's heartbeat, so the rows of a node that crashed are found and removed.

Revision ID: csms_0010
Revises: csms_0009
"""

import sqlalchemy as sa
from alembic import op

revision = "csms_0010"
down_revision = "csms_0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "csms_nodes",
        sa.Column("node_id", sa.String(64), primary_key=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("csms_nodes")
