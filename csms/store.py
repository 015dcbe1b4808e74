"""The csms service's tables. Only this package reads or writes them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from chargepark.db.metadata import service_metadata
from chargepark.db.tables import kernel_tables

metadata = service_metadata()
kernel = kernel_tables(metadata)

_TS = DateTime(timezone=True)
_BigId = BigInteger().with_variant(Integer(), "sqlite")

chargers = Table(
    "chargers",
    metadata,
    Column("id", String(48), primary_key=True),  # the OCPP identity in the connection URL
    Column("password_hash", Text, nullable=True),  # security profile 1/2 Basic auth
    Column("expected_vendor", String(50), nullable=True),
    Column("expected_model", String(50), nullable=True),
    Column("tariff_id", String(64), nullable=True),
    Column("registration", String(16), nullable=False),  # Accepted | Pending | Rejected
    Column("vendor", String(50), nullable=True),  # from the last BootNotification
    Column("model", String(50), nullable=True),
    Column("serial_number", String(50), nullable=True),
    Column("firmware_version", String(50), nullable=True),
    Column("ocpp_version", String(16), nullable=True),
    Column("last_boot_at", _TS, nullable=True),
    Column("last_seen_at", _TS, nullable=True),
    Column("created_at", _TS, nullable=False),
    Column("updated_at", _TS, nullable=False),
)

connectors = Table(
    "connectors",
    metadata,
    Column(
        "charger_id", String(48), ForeignKey("chargers.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("evse_id", Integer, primary_key=True),  # 0 with connector 0: the whole charger
    Column("connector_id", Integer, primary_key=True),
    Column("status", String(16), nullable=False),
    Column("error_code", String(50), nullable=True),
    Column("info", String(512), nullable=True),
    Column("status_at", _TS, nullable=False),  # the charger's timestamp of the status
)

# What accounts said of each id token, kept so Authorize is answered without a round trip and,
# when accounts is unreachable, from a stale entry rather than not at all.
id_token_cache = Table(
    "id_token_cache",
    metadata,
    Column("id_token", String(64), primary_key=True),
    Column("status", String(16), nullable=False),  # Accepted | Blocked | Expired | Unknown
    Column("customer_id", String(36), nullable=True),
    Column("expires_at", _TS, nullable=True),
    Column("fetched_at", _TS, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("charger_id", String(48), nullable=False),
    Column("transaction_id", String(36), nullable=False),  # 1.6: our integer; 2.0.1: theirs
    Column("evse_id", Integer, nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("id_token", String(64), nullable=True),
    Column("customer_id", String(36), nullable=True),
    Column("start_key", String(200), nullable=True),  # recognizes a retransmitted 1.6 start
    Column("status", String(16), nullable=False),  # active | closed
    Column("meter_start_wh", Integer, nullable=True),
    Column("meter_stop_wh", Integer, nullable=True),
    Column("started_at", _TS, nullable=False),
    Column("ended_at", _TS, nullable=True),
    Column("stop_reason", String(32), nullable=True),
    Column("last_seq_no", Integer, nullable=True),
    UniqueConstraint("charger_id", "transaction_id", name="uq_sessions_transaction"),
    UniqueConstraint("charger_id", "start_key", name="uq_sessions_start_key"),
)

# OCPP 1.6 transaction ids are integers the CSMS hands out: a store sequence, never random.
transaction_ids = Table(
    "transaction_ids",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("charger_id", String(48), nullable=False),
)

# Every sampled value chargers send (MeterValues, transaction data). Written in group commits.
meter_samples = Table(
    "meter_samples",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("charger_id", String(48), nullable=False),
    Column("evse_id", Integer, nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("transaction_id", String(36), nullable=True),
    Column("sampled_at", _TS, nullable=False),
    Column("measurand", String(48), nullable=False),
    Column("phase", String(8), nullable=True),
    Column("unit", String(16), nullable=True),
    Column("multiplier", Integer, nullable=True),  # 2.0.1: value x 10^multiplier
    Column("context", String(24), nullable=True),
    Column("location", String(8), nullable=True),
    Column("value", String(32), nullable=False),  # as sent: no float rounding of registers
    Index("ix_meter_samples_charger", "charger_id", "sampled_at"),
)

# Notifications that change no state here but must not be lost: firmware, diagnostics and log
# upload progress, security events, vendor data. Kept as received, for operators.
charger_notifications = Table(
    "charger_notifications",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("charger_id", String(48), nullable=False),
    Column("action", String(48), nullable=False),
    Column("payload", Text, nullable=False),  # the message's JSON, as received
    Column("received_at", _TS, nullable=False),
    Index("ix_charger_notifications_charger", "charger_id", "received_at"),
)
