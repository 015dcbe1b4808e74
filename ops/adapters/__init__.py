"""ops' adapters: the SQL implementations of ops.ports (the only modules with SQL, with the
tables of ops.store), and the HTTP webhook sender."""
