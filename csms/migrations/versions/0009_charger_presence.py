"""csms: which node holds each connected charger's socket, shared by every csms node.

Revision ID: csms_0009
Revises: csms_0008
"""

import sqlalchemy as sa
from alembic import op

revision = "csms_0009"
down_revision = "csms_0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "charger_presence",
        sa.Column("charger_id", sa.String(48), primary_key=True),
        sa.Column("node_id", sa.String(64), nullable=False),
        sa.Column("ocpp_version", sa.String(16), nullable=False),
        sa.Column("connected_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_charger_presence_node", "charger_presence", ["node_id"])


def downgrade() -> None:
    op.drop_index("ix_charger_presence_node", table_name="charger_presence")
    op.drop_table("charger_presence")
