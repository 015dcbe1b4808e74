"""The kernel's tables, added to every service's own MetaData.

outbox: events written in the same transaction as the state change, published later by the relay.
inbox: ids of events a consumer has applied, so a redelivery has no second effect.
event_retries: events a consumer failed on, set aside with the time of their next try so that
  the events behind them flow on (chargepark.events.inbox); one row per (consumer, event).
dead_letters: events a consumer gave up on after its retries, kept for an operator.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from chargepark.db.columns import BIG_ID, UTC_TIMESTAMP


@dataclass(frozen=True)
class KernelTables:
    outbox: Table
    inbox: Table
    dead_letters: Table
    event_retries: Table


def kernel_tables(metadata: MetaData) -> KernelTables:
    outbox = Table(
        "outbox",
        metadata,
        Column("id", BIG_ID, primary_key=True, autoincrement=True),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("event_type", String(64), nullable=False),
        Column("payload", Text, nullable=False),  # serialized once, published as is
        Column("created_at", UTC_TIMESTAMP, nullable=False),
        Column("sent_at", UTC_TIMESTAMP, nullable=True),
        Column("attempts", Integer, nullable=False, default=0),
        Column("last_error", Text, nullable=True),
    )
    Index("ix_outbox_unsent", outbox.c.sent_at, outbox.c.id)
    inbox = Table(
        "inbox",
        metadata,
        Column("consumer", String(64), primary_key=True),
        Column("event_id", String(36), primary_key=True),
        Column("event_type", String(64), nullable=False),
        Column("outcome", String(16), nullable=False),  # applied | rejected
        Column("processed_at", UTC_TIMESTAMP, nullable=False),
    )
    dead_letters = Table(
        "dead_letters",
        metadata,
        Column("id", BIG_ID, primary_key=True, autoincrement=True),
        Column("consumer", String(64), nullable=False),
        Column("event_id", String(36), nullable=False),
        Column("event_type", String(64), nullable=False),
        Column("payload", Text, nullable=False),
        Column("error", Text, nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("failed_at", UTC_TIMESTAMP, nullable=False),
    )
    event_retries = Table(
        "event_retries",
        metadata,
        Column("consumer", String(64), primary_key=True),
        Column("event_id", String(36), primary_key=True),
        Column("event_type", String(64), nullable=False),
        Column("payload", Text, nullable=False),
        Column("failure", String(16), nullable=False),  # deterministic | transient
        Column("error", Text, nullable=False),
        Column("attempts", Integer, nullable=False),  # deliveries so far, the first ones included
        Column("deferred_at", UTC_TIMESTAMP, nullable=False),
        Column("next_at", UTC_TIMESTAMP, nullable=False),
    )
    Index("ix_event_retries_due", event_retries.c.consumer, event_retries.c.next_at)
    return KernelTables(
        outbox=outbox, inbox=inbox, dead_letters=dead_letters, event_retries=event_retries
    )
