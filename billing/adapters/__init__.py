"""Billing's adapters: the SQL repositories (the payment providers are in billing.payments)."""
