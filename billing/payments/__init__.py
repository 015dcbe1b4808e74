"""Payment providers behind one port: the local provider (embedded default) and Stripe."""
