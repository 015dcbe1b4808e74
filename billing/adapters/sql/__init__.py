"""Billing's SQL repositories, one per aggregate, inside one unit of work (SqlBillingUnitOfWork).

On SQLite every transaction is BEGIN IMMEDIATE (one writer at a time). On PostgreSQL a visit is
locked (FOR UPDATE) both by the job that invoices it and by an event that adds a session to it,
so a session is either in the invoice or finds the visit invoiced and goes elsewhere.
"""

from billing.adapters.sql.uow import SqlBillingUnitOfWork

__all__ = ["SqlBillingUnitOfWork"]
