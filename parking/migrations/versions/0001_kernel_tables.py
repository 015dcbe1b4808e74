"""parking: the kernel's outbox, inbox and dead-letter tables.

Revision ID: parking_0001
Revises:
"""

from chargepark.db.migrate import create_kernel_tables_v1, drop_kernel_tables_v1

revision = "parking_0001"
down_revision = None
branch_labels = ("parking",)
depends_on = None


def upgrade() -> None:
    create_kernel_tables_v1()


def downgrade() -> None:
    drop_kernel_tables_v1()
