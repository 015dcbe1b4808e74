"""Tariffs, one invoice per visit (energy, parking, idle time), payments through Stripe."""
