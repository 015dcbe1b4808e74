"""The accounts service's tables. Only this package reads or writes them."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer, String, Table, Text

from chargepark.db.columns import UTC_TIMESTAMP as _TS
from chargepark.db.metadata import service_metadata
from chargepark.db.tables import kernel_tables

metadata = service_metadata()
kernel = kernel_tables(metadata)


customers = Table(
    "customers",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("email", String(254), nullable=True, unique=True),  # lower-cased; the login name
    Column("password_hash", Text, nullable=True),  # argon2id; never logged, never returned
    Column("status", String(16), nullable=False),  # active | deactivated
    Column("created_at", _TS, nullable=False),
    Column("updated_at", _TS, nullable=False),
)

vehicles = Table(
    "vehicles",
    metadata,
    Column("regnum", String(16), primary_key=True),  # normalized: one owner at a time
    Column("customer_id", String(36), ForeignKey("customers.id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # CAR | MOTORCYCLE | VAN
    Column("fuel", String(8), nullable=False),  # EV | ICE
    Column("linked_at", _TS, nullable=False),
)

id_tokens = Table(
    "id_tokens",
    metadata,
    Column("token", String(64), primary_key=True),  # the RFID UID / eMAID as the charger sends it
    Column("customer_id", String(36), ForeignKey("customers.id"), nullable=False, index=True),
    Column("type", String(16), nullable=False),  # ISO14443 | ISO15693 | Central | eMAID
    Column("status", String(16), nullable=False),  # Accepted | Blocked | Expired
    Column("expires_at", _TS, nullable=True),
    Column("created_at", _TS, nullable=False),
    Column("updated_at", _TS, nullable=False),
)

api_clients = Table(
    "api_clients",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("secret_hash", Text, nullable=False),  # argon2id of the secret
    Column("scopes", Text, nullable=False),  # space-separated
    Column("created_at", _TS, nullable=False),
    Column("revoked_at", _TS, nullable=True),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("alg", String(16), nullable=False),
    Column("private_pem", Text, nullable=False),  # encrypted when a key secret is configured
    Column("encrypted", Integer, nullable=False),  # 1 when private_pem is encrypted
    Column("public_jwk", Text, nullable=False),
    Column("created_at", _TS, nullable=False),
    Column("retired_at", _TS, nullable=True),  # stopped signing
    Column("expires_at", _TS, nullable=True),  # leaves the JWKS: retired_at + token lifetime
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),  # sha256 hex; the token itself is not kept
    Column("subject", String(64), nullable=False, index=True),
    Column("client_id", String(64), nullable=True),
    Column("scopes", Text, nullable=False),
    Column("created_at", _TS, nullable=False),
    Column("expires_at", _TS, nullable=False),
    Column("used_at", _TS, nullable=True),  # one use each: a refresh rotates it
)

auth_failures = Table(
    "auth_failures",
    metadata,
    Column("key", String(300), primary_key=True),  # "client:<id>", "user:<email>", "ip:<addr>"
    Column("failures", Integer, nullable=False),
    Column("locked_until", _TS, nullable=True),
    Column("updated_at", _TS, nullable=False),
)
