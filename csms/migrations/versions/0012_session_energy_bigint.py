"""csms: a session's meter registers and energy in bigint columns.

A 2.0.1 register is a decimal the charger may scale by any multiplier; the protocol edge
bounds every reading at 10^12 of its unit (`csms.domain.sessions.READING_MAX`), beyond int32's
2.1 GWh, which a busy DC charger's lifetime register passes within a few years.

Revision ID: csms_0012
Revises: csms_0011
"""

import sqlalchemy as sa
from alembic import op

revision = "csms_0012"
down_revision = "csms_0011"
branch_labels = None
depends_on = None

COLUMNS = ("meter_start_wh", "meter_stop_wh", "energy_wh")


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:  # SQLite rebuilds the table for the ALTER
        for column in COLUMNS:
            batch.alter_column(column, existing_type=sa.Integer, type_=sa.BigInteger)


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        for column in COLUMNS:
            batch.alter_column(column, existing_type=sa.BigInteger, type_=sa.Integer)
