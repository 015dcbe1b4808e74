"""csms: the id token cache that answers Authorize.

Revision ID: csms_0003
Revises: csms_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "csms_0003"
down_revision = "csms_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "id_token_cache",
        sa.Column("id_token", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("customer_id", sa.String(36), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("id_token_cache")
