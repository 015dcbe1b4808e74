"""csms: charger notifications (firmware, diagnostics, logs, security events, data transfer).

Revision ID: csms_0006
Revises: csms_0005
"""

import sqlalchemy as sa
from alembic import op

revision = "csms_0006"
down_revision = "csms_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "charger_notifications",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("charger_id", sa.String(48), nullable=False),
        sa.Column("action", sa.String(48), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_charger_notifications_charger", "charger_notifications", ["charger_id", "received_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_charger_notifications_charger", table_name="charger_notifications")
    op.drop_table("charger_notifications")
