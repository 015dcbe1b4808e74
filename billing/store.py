"""The billing service's tables. Only this package reads or writes them.

Money columns are integer minor units; prices finer than a minor unit, kWh and tax rates are
exact decimal strings.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from chargepark.db.columns import BIG_ID as _BigId
from chargepark.db.columns import UTC_TIMESTAMP as _TS
from chargepark.db.metadata import service_metadata
from chargepark.db.tables import kernel_tables

metadata = service_metadata()
kernel = kernel_tables(metadata)


# Versioned: a change is a new row (id, version + 1); a row is never edited once written.
tariffs = Table(
    "tariffs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("energy_minor_per_kwh", String(32), nullable=False),
    Column("session_fee_minor", BigInteger, nullable=False),
    Column("parking_minor_per_period", BigInteger, nullable=False),
    Column("parking_period_minutes", Integer, nullable=False),
    Column("parking_grace_minutes", Integer, nullable=False),
    Column("parking_daily_cap_minor", BigInteger, nullable=True),
    Column("idle_minor_per_minute", BigInteger, nullable=False),
    Column("idle_after_minutes", Integer, nullable=False),
    Column("tax_percent", String(16), nullable=False),
    Column("valid_from", _TS, nullable=False),
    Column("created_at", _TS, nullable=False),
)

# A visit: a parking stay (kind STAY, keyed by lot + regnum + arrival) or a charging session
# without one (kind SESSION). `changed_at` is when an event last changed it (billing's clock).
visits = Table(
    "visits",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("kind", String(8), nullable=False),  # STAY | SESSION
    Column("lot_id", String(128), nullable=True),
    Column("regnum", String(16), nullable=True),
    Column("arrived_at", _TS, nullable=True),
    Column("left_at", _TS, nullable=True),
    Column("level", String(128), nullable=True),
    Column("slot_ui", String(128), nullable=True),
    Column("charger_id", String(128), nullable=True),
    Column("connector_id", Integer, nullable=True),
    Column("status", String(12), nullable=False),  # open | invoiced
    Column("invoice_id", String(40), nullable=True),
    Column("created_at", _TS, nullable=False),
    Column("changed_at", _TS, nullable=False),
    UniqueConstraint("lot_id", "regnum", "arrived_at"),
)
Index("ix_visits_regnum", visits.c.regnum, visits.c.status)
Index("ix_visits_bay", visits.c.charger_id, visits.c.connector_id, visits.c.status)
Index("ix_visits_due", visits.c.status, visits.c.changed_at)

# What billing knows of each charging session, merged from its Started and Closed.
visit_sessions = Table(
    "visit_sessions",
    metadata,
    Column("session_id", String(128), primary_key=True),
    Column("visit_id", String(40), nullable=False),
    Column("frozen", Boolean, nullable=False),  # billed in an invoiced visit: stays there
    Column("charger_id", String(128), nullable=False),
    Column("evse_id", Integer, nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("started_at", _TS, nullable=False),
    Column("ended_at", _TS, nullable=True),
    Column("kwh", String(32), nullable=True),
    Column("energy_wh", BigInteger, nullable=True),
    Column("regnum", String(16), nullable=True),
    Column("id_token", String(128), nullable=True),
    Column("customer_id", String(128), nullable=True),
    Column("tariff_id", String(128), nullable=True),
    Column("reason", String(128), nullable=True),
    Column("started_seen", Boolean, nullable=False),
    Column("closed_seen", Boolean, nullable=False),
    Column("changed_at", _TS, nullable=False),
    Column("traceparent", String(55), nullable=True),  # W3C Trace Context of its newest event
)
Index("ix_visit_sessions_visit", visit_sessions.c.visit_id)
Index("ix_visit_sessions_regnum", visit_sessions.c.regnum)
Index("ix_visit_sessions_bay", visit_sessions.c.charger_id, visit_sessions.c.evse_id)

invoices = Table(
    "invoices",
    metadata,
    Column("seq", _BigId, primary_key=True, autoincrement=True),  # list order and page cursor
    Column("id", String(40), nullable=False, unique=True),
    Column("visit_id", String(40), nullable=True, unique=True),
    Column("customer_id", String(128), nullable=True),  # null: the anonymous account
    Column("currency", String(3), nullable=False),
    Column("tax_percent", String(16), nullable=False),
    Column("net_minor", BigInteger, nullable=False),
    Column("tax_minor", BigInteger, nullable=False),
    Column("total_minor", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("note", String(200), nullable=True),
    Column("charge_automatically", Boolean, nullable=False),
    Column("provider", String(32), nullable=True),
    Column("provider_customer_id", String(128), nullable=True),
    Column("provider_invoice_id", String(128), nullable=True, unique=True),
    Column("hosted_url", String(1000), nullable=True),
    Column("amount_paid_minor", BigInteger, nullable=True),
    Column("collect_attempts", Integer, nullable=False),  # answered collections (attempt no.)
    Column("declines", Integer, nullable=False),
    Column("unavailable", Integer, nullable=False),  # provider unreachable in a row
    Column("next_attempt_at", _TS, nullable=True),  # null: nothing scheduled
    Column("last_error", String(500), nullable=True),
    Column("created_at", _TS, nullable=False),
    Column("issued_at", _TS, nullable=True),
    Column("paid_at", _TS, nullable=True),
)
Index("ix_invoices_customer", invoices.c.customer_id, invoices.c.seq)
Index("ix_invoices_status", invoices.c.status, invoices.c.seq)
Index("ix_invoices_due", invoices.c.status, invoices.c.next_attempt_at)

invoice_lines = Table(
    "invoice_lines",
    metadata,
    Column("invoice_id", String(40), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("description", String(300), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("quantity_note", String(300), nullable=True),
    Column("session_id", String(128), nullable=True),
    Column("created_at", _TS, nullable=False),
)

payment_attempts = Table(
    "payment_attempts",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("invoice_id", String(40), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("source", String(16), nullable=False),  # issue | collect | webhook
    Column("status", String(16), nullable=False),  # paid | payment_failed | unavailable | rejected
    Column("provider_ref", String(128), nullable=True),
    Column("failure_code", String(128), nullable=True),
    Column("failure_message", String(500), nullable=True),
    Column("amount_minor", BigInteger, nullable=True),
    Column("at", _TS, nullable=False),
)
Index("ix_payment_attempts_invoice", payment_attempts.c.invoice_id, payment_attempts.c.id)

# Billing's projection of accounts (from its events): who a regnum or an id token belongs to.
# `changed_at` is the event's time: an older event never overwrites a newer one.
customers = Table(
    "customers",
    metadata,
    Column("customer_id", String(128), primary_key=True),
    Column("provider_customer_id", String(128), nullable=True),  # created lazily
    Column("created_at", _TS, nullable=False),
)

customer_vehicles = Table(
    "customer_vehicles",
    metadata,
    Column("regnum", String(16), primary_key=True),
    Column("customer_id", String(128), nullable=True),  # null: unlinked
    Column("changed_at", _TS, nullable=False),
)

customer_tokens = Table(
    "customer_tokens",
    metadata,
    Column("id_token", String(128), primary_key=True),
    Column("customer_id", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("changed_at", _TS, nullable=False),
)
