"""Billing's rules, pure: tariffs and their arithmetic, visits, invoices. No I/O, no clock."""
