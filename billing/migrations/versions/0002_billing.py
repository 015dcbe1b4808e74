"""billing: tariffs, visits and their sessions, invoices, lines, payment attempts, and billing's
projection of accounts.

Revision ID: billing_0002
Revises: billing_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "billing_0002"
down_revision = "billing_0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "tariffs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("energy_minor_per_kwh", sa.String(32), nullable=False),
        sa.Column("session_fee_minor", sa.BigInteger, nullable=False),
        sa.Column("parking_minor_per_period", sa.BigInteger, nullable=False),
        sa.Column("parking_period_minutes", sa.Integer, nullable=False),
        sa.Column("parking_grace_minutes", sa.Integer, nullable=False),
        sa.Column("parking_daily_cap_minor", sa.BigInteger, nullable=True),
        sa.Column("idle_minor_per_minute", sa.BigInteger, nullable=False),
        sa.Column("idle_after_minutes", sa.Integer, nullable=False),
        sa.Column("tax_percent", sa.String(16), nullable=False),
        sa.Column("valid_from", TS, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "visits",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("lot_id", sa.String(128), nullable=True),
        sa.Column("regnum", sa.String(16), nullable=True),
        sa.Column("arrived_at", TS, nullable=True),
        sa.Column("left_at", TS, nullable=True),
        sa.Column("level", sa.String(128), nullable=True),
        sa.Column("slot_ui", sa.String(128), nullable=True),
        sa.Column("charger_id", sa.String(128), nullable=True),
        sa.Column("connector_id", sa.Integer, nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("invoice_id", sa.String(40), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("changed_at", TS, nullable=False),
        sa.UniqueConstraint("lot_id", "regnum", "arrived_at"),
    )
    op.create_index("ix_visits_bay", "visits", ["charger_id", "connector_id", "status"])
    op.create_index("ix_visits_due", "visits", ["status", "changed_at"])
    op.create_index("ix_visits_regnum", "visits", ["regnum", "status"])
    op.create_table(
        "visit_sessions",
        sa.Column("session_id", sa.String(128), primary_key=True),
        sa.Column("visit_id", sa.String(40), nullable=False),
        sa.Column("frozen", sa.Boolean, nullable=False),
        sa.Column("charger_id", sa.String(128), nullable=False),
        sa.Column("evse_id", sa.Integer, nullable=False),
        sa.Column("connector_id", sa.Integer, nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=True),
        sa.Column("kwh", sa.String(32), nullable=True),
        sa.Column("energy_wh", sa.BigInteger, nullable=True),
        sa.Column("regnum", sa.String(16), nullable=True),
        sa.Column("id_token", sa.String(128), nullable=True),
        sa.Column("customer_id", sa.String(128), nullable=True),
        sa.Column("tariff_id", sa.String(128), nullable=True),
        sa.Column("reason", sa.String(128), nullable=True),
        sa.Column("started_seen", sa.Boolean, nullable=False),
        sa.Column("closed_seen", sa.Boolean, nullable=False),
        sa.Column("changed_at", TS, nullable=False),
    )
    op.create_index("ix_visit_sessions_bay", "visit_sessions", ["charger_id", "evse_id"])
    op.create_index("ix_visit_sessions_regnum", "visit_sessions", ["regnum"])
    op.create_index("ix_visit_sessions_visit", "visit_sessions", ["visit_id"])
    op.create_table(
        "invoices",
        sa.Column("seq", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(40), nullable=False, unique=True),
        sa.Column("visit_id", sa.String(40), nullable=True, unique=True),
        sa.Column("customer_id", sa.String(128), nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("tax_percent", sa.String(16), nullable=False),
        sa.Column("net_minor", sa.BigInteger, nullable=False),
        sa.Column("tax_minor", sa.BigInteger, nullable=False),
        sa.Column("total_minor", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("note", sa.String(200), nullable=True),
        sa.Column("charge_automatically", sa.Boolean, nullable=False),
        sa.Column("provider", sa.String(32), nullable=True),
        sa.Column("provider_customer_id", sa.String(128), nullable=True),
        sa.Column("provider_invoice_id", sa.String(128), nullable=True, unique=True),
        sa.Column("hosted_url", sa.String(1000), nullable=True),
        sa.Column("amount_paid_minor", sa.BigInteger, nullable=True),
        sa.Column("collect_attempts", sa.Integer, nullable=False),
        sa.Column("declines", sa.Integer, nullable=False),
        sa.Column("unavailable", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", TS, nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("issued_at", TS, nullable=True),
        sa.Column("paid_at", TS, nullable=True),
    )
    op.create_index("ix_invoices_customer", "invoices", ["customer_id", "seq"])
    op.create_index("ix_invoices_due", "invoices", ["status", "next_attempt_at"])
    op.create_index("ix_invoices_status", "invoices", ["status", "seq"])
    op.create_table(
        "invoice_lines",
        sa.Column("invoice_id", sa.String(40), primary_key=True),
        sa.Column("line_no", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("description", sa.String(300), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("quantity_note", sa.String(300), nullable=True),
        sa.Column("session_id", sa.String(128), nullable=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "payment_attempts",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("invoice_id", sa.String(40), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("provider_ref", sa.String(128), nullable=True),
        sa.Column("failure_code", sa.String(128), nullable=True),
        sa.Column("failure_message", sa.String(500), nullable=True),
        sa.Column("amount_minor", sa.BigInteger, nullable=True),
        sa.Column("at", TS, nullable=False),
    )
    op.create_index("ix_payment_attempts_invoice", "payment_attempts", ["invoice_id", "id"])
    op.create_table(
        "customers",
        sa.Column("customer_id", sa.String(128), primary_key=True),
        sa.Column("provider_customer_id", sa.String(128), nullable=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "customer_vehicles",
        sa.Column("regnum", sa.String(16), primary_key=True),
        sa.Column("customer_id", sa.String(128), nullable=True),
        sa.Column("changed_at", TS, nullable=False),
    )
    op.create_table(
        "customer_tokens",
        sa.Column("id_token", sa.String(128), primary_key=True),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("changed_at", TS, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "customer_tokens",
        "customer_vehicles",
        "customers",
        "payment_attempts",
        "invoice_lines",
        "invoices",
        "visit_sessions",
        "visits",
        "tariffs",
    ):
        op.drop_table(table)
