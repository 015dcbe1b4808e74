"""csms: the command log (every CSMS -> charger command and how it ended).

Revision ID: csms_0007
Revises: csms_0006
"""

import sqlalchemy as sa
from alembic import op

revision = "csms_0007"
down_revision = "csms_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "charger_commands",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("charger_id", sa.String(48), nullable=False),
        sa.Column("action", sa.String(48), nullable=False),
        sa.Column("request", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("response", sa.Text, nullable=True),
        sa.Column("error_code", sa.String(50), nullable=True),
        sa.Column("error_description", sa.Text, nullable=True),
        sa.Column("error_details", sa.Text, nullable=True),
        sa.Column("requested_by", sa.String(255), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("timeout_sec", sa.Float, nullable=False),
    )
    op.create_index("ix_charger_commands_charger", "charger_commands", ["charger_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_charger_commands_charger", table_name="charger_commands")
    op.drop_table("charger_commands")
